#!/usr/bin/env python
"""Print the paper tables (markdown, or CSV with --csv) from finished runs.

    python scripts/make_tables.py [RUN_OR_SWEEP_DIR ...] [--csv] [--out FILE]

Defaults to searching ``outputs/`` and ``multirun/``. Rows whose experiment has not been run
on this machine say so instead of showing a number.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsol.app.stages.report import EXTRA_ROWS
from wsol.errors import WsolError
from wsol.io.atomic import atomic_write_text
from wsol.report import build_table, find_runs, render_csv, render_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path,
                        default=[Path("outputs"), Path("multirun")])
    parser.add_argument("--csv", action="store_true", help="print CSV instead of markdown")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = build_table(find_runs(args.dirs), extra=EXTRA_ROWS)  # as the report stage's
    text = render_csv(table) if args.csv else render_markdown(table)
    print(text, end="")
    if args.out:
        try:
            atomic_write_text(args.out, text)
        except (OSError, WsolError) as err:
            raise SystemExit(f"make_tables: cannot write --out {args.out} "
                             f"({getattr(err, 'strerror', None) or err})") from None


if __name__ == "__main__":
    main()
