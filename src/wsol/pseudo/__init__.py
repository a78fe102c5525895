"""From CAMs to pseudo-labels: IRN's confident foreground / background rule, refined (a
fully connected CRF, or a learned refiner registered beside it)."""
