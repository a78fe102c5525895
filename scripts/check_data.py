#!/usr/bin/env python
"""Report what a run would miss before it starts: ``python scripts/check_data.py
experiment=NAME [key=value ...] [--decode]``.

Composes the config exactly as ``scripts/run.py`` does (same overrides) and lists every finding
of the run's preflight rules (src/wsol/app/preflight.py): config values out of range, the data
root, every split the configured stages read (ids, images, annotations, masks for evaluate),
the pretrained weights or checkpoint, the CAM store a later stage needs (in the run directory
``hydra.run.dir=DIR``, default the current one). ``--decode`` also
decodes every image to find corrupt files. Exit status: 0 when everything is there, 1
otherwise, 2 on a bad override.
"""

from __future__ import annotations

import sys

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

USAGE = "usage: python scripts/check_data.py [experiment=NAME] [key=value ...] [--decode]"


def run_dir(overrides: list[str]) -> str:
    """The run directory the run would use: the last ``hydra.run.dir=DIR``, so a rerun's check
    (``stages=[evaluate] hydra.run.dir=RUN``) reads RUN's model.pt and cam_store.json; else a
    folder that does not exist, as the new one Hydra makes for a run is empty (never the
    current directory, whose files a run would not read)."""
    import os
    import tempfile

    from wsol.app.compose import last_override_value

    given = last_override_value(overrides, "hydra.run.dir")
    return given or os.path.join(tempfile.gettempdir(), f"wsol-check-new-run-{os.getpid()}")


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip(), USAGE, sep="\n\n")
        return 0
    decode = "--decode" in argv
    overrides = [a for a in argv if a != "--decode"]
    unknown = [a for a in overrides if a.startswith("-")]
    if unknown:
        print(f"check_data: unknown option(s) {unknown}\n{USAGE}", file=sys.stderr)
        return 2
    from wsol.app.build import build_run, typed_config
    from wsol.app.compose import compose_config
    from wsol.app.findings import Finding
    from wsol.app.preflight import check_run, print_findings
    from wsol.app.validate import config_problems
    from wsol.errors import WsolError

    try:
        cfg = compose_config([*overrides, f"paths.run_dir={run_dir(overrides)}"])
        problems = config_problems(typed_config(cfg))
        findings = [Finding("config", False, p, "fix the value") for p in problems]
        if not problems:
            findings = check_run(build_run(cfg), decode=decode)
    except (WsolError, HydraException, OmegaConfBaseException) as err:
        print(f"check_data: cannot compose the config: {err}", file=sys.stderr)
        return 2
    print_findings(findings, title=f"wsol data check: {' '.join(overrides) or 'demo'}")
    missing = sum(not f.ok for f in findings)
    print("everything is in place" if not missing else f"{missing} problem(s) found")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
