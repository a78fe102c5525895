"""Pipeline stages. Each is a plain function ``stage(run)`` over the run objects; stages talk to
each other only through files in the run directory or the CAM cache, so any stage reruns alone."""
