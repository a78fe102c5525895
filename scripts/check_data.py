#!/usr/bin/env python
"""Report what a run would miss before it starts: ``python scripts/check_data.py
experiment=NAME [key=value ...] [--decode]``.

Composes the config exactly as ``scripts/run.py`` does (same overrides) and checks the data
root, every split the configured stages read (ids, images, annotations, masks for evaluate)
and the pretrained weights or checkpoint. ``--decode`` also decodes every image to find
corrupt files. Exit status: 0 when everything is there, 1 otherwise, 2 on a bad override.
"""

from __future__ import annotations

import sys

from hydra import compose, initialize
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

USAGE = "usage: python scripts/check_data.py [experiment=NAME] [key=value ...] [--decode]"


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
    try:
        with initialize(version_base="1.3", config_path="../configs"):
            cfg = compose(config_name="run", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"check_data: cannot compose the config: {err}", file=sys.stderr)
        return 2
    from wsol.app.preflight import check_run, print_findings

    findings = check_run(cfg, decode=decode)
    print_findings(findings, title=f"wsol data check: {' '.join(overrides) or 'demo'}")
    missing = sum(not f.ok for f in findings)
    print("everything is in place" if not missing else f"{missing} problem(s) found")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
