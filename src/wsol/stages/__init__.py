"""Pipeline stages. Each is a plain function ``stage(cfg, ctx)`` that talks to the others only
through files in the run directory, so any stage can be rerun alone."""
