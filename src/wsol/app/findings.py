"""The rows of the pre-run check (:mod:`wsol.app.preflight`) and what one pass of its rules
shares; the rule modules (data, CAM store, pseudo-labels, report) build on these."""

from __future__ import annotations

from dataclasses import dataclass, field

from wsol.app.build import Run
from wsol.errors import DataError, WsolError

README = "data/README.md"
SHOW = 3  # ids named per missing-files line


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok`` False means the run would stop on it. ``error`` is the
    exception the run raises for it (the reader's own, when a reader found it)."""

    check: str
    ok: bool
    detail: str
    fix: str = ""
    error: WsolError | None = field(default=None, compare=False)

    def exception(self) -> WsolError:
        if self.error is not None:
            return self.error
        return DataError(f"{self.detail}; {self.fix}" if self.fix else self.detail)


@dataclass
class RuleContext:
    """What one pass over the rules shares: the run, the mode and the splits already checked."""

    run: Run
    generate: bool  # the run (may generate the demo) or the checker (generates nothing)
    decode: bool = False
    progress: bool = False
    root_ok: bool | None = None
    splits_done: set = field(default_factory=set)
