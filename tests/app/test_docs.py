"""Every command README.md and data/README.md show composes, and the runnable ones run.

The commands are read from the documents themselves (fenced blocks, and the backticked spans
of table rows that are overrides or commands), so the docs cannot drift from the code: a key
renamed in the schema, an experiment removed or a group option misspelt fails here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.recipes import RECIPES
from helpers.runs import compose

from wsol.app.compose import check_overrides, config_groups, schema_keys

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "README.md", REPO / "data" / "README.md")
SCRIPTS = ("scripts/run.py", "scripts/check_data.py")
USAGE_PLACEHOLDERS = {"[key=value", "...]", "[--decode]", "[experiment=NAME]"}


@dataclass(frozen=True)
class DocCommand:
    """One command from a document: where it is, the script and its arguments; ``runnable``
    is False for a setting quoted inside a table's description (composed, not run)."""

    where: str
    script: str
    args: tuple[str, ...]
    runnable: bool = True

    @property
    def multirun(self) -> bool:
        return "-m" in self.args or "--multirun" in self.args

    @property
    def overrides(self) -> list[str]:
        return [a for a in self.args if not a.startswith("-") and a not in USAGE_PLACEHOLDERS]


def _fenced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) inside ``` blocks, backslash continuations joined."""
    out, inside, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if not pending:
            start = number
        pending += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            out.append((start, pending.strip()))
            pending = ""
    return out


def _commands_in(line: str) -> list[list[str]]:
    """The ``python scripts/...`` invocations in a shell line (``&&``/``;`` chains split)."""
    found = []
    for part in re.split(r"&&|;|\|\|", line):
        part = part.split("#", 1)[0].strip()
        match = re.search(r"python3? (scripts/\S+\.py)(.*)", part)
        if match and match.group(1) in SCRIPTS:
            found.append([match.group(1), *shlex.split(match.group(2))])
    return found


def _is_override_span(span: str, top: set[str]) -> bool:
    """``key=value ...`` (optionally after ``-m``) whose first key is a config key or group;
    a bare ``data=`` in prose (an empty value) is a mention, not an override."""
    tokens = [t for t in span.split() if t not in ("-m", "--multirun")]
    return bool(tokens) and all(re.fullmatch(r"[+~]?[\w./@]+=\S+", t) for t in tokens) and \
        tokens[0].split("=", 1)[0].lstrip("+~").split(".")[0] in top


def doc_commands() -> list[DocCommand]:
    """Every command and override span shown in the docs, in document order."""
    top = {k.split(".")[0] for k in schema_keys()} | set(config_groups()) | {"hydra"}
    commands = []
    for doc in DOCS:
        text, name = doc.read_text(), doc.relative_to(REPO).as_posix()
        for number, line in _fenced_lines(text):
            for script, *args in _commands_in(line):
                commands.append(DocCommand(f"{name}:{number}", script, tuple(args)))
        for number, line in enumerate(text.splitlines(), 1):
            if not line.lstrip().startswith("|"):
                continue
            first_cell = line.strip().strip("|").split("|")[0]
            for span in re.findall(r"`([^`]+)`", line):
                where = f"{name}:{number}"
                if "scripts/" in span:
                    for script, *args in _commands_in(span):
                        commands.append(DocCommand(where, script, tuple(args)))
                elif _is_override_span(span, top):
                    commands.append(DocCommand(where, "scripts/run.py", tuple(span.split()),
                                               runnable=first_cell.strip().startswith("`")
                                               and f"`{span}`" in first_cell))
    return commands


COMMANDS = doc_commands()


def test_the_docs_show_the_commands_people_run():
    shown = {" ".join(c.args) for c in COMMANDS}
    assert "" in shown  # the quick start: python scripts/run.py
    assert any(a.startswith("experiment=voc_resnet") for a in shown)
    assert any(c.script == "scripts/check_data.py" for c in COMMANDS)
    assert any(c.multirun for c in COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.where} {' '.join(c.args)}")
def test_every_documented_command_composes(command):
    if command.multirun:  # sweep syntax (a,b): keys and group options only
        check_overrides(command.overrides)
    else:
        cfg = compose(*command.overrides)
        assert cfg.stages


# -- the runnable ones, on small trees -------------------------------------------------------

# Makes any documented run take seconds: the tiny demo tree, small inputs, one short epoch.
TINY = ("data.input_size=32", "data.batch_size=8",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2",
        "eval.num_figures=0", "model.weights=null", "segment.weights=null",
        "segment.arch=resnet18_quarter", "segment.max_epochs=1", "segment.crop_size=32",
        "segment.batch_size=4", "pseudo.crf.iterations=2")
NOT_HERE = {  # what a command needs that this machine does not have
    "trainer.accelerator=gpu": "a GPU", "hydra/launcher=slurm": "a SLURM cluster",
    "data=imagenet": "torchvision's pretrained ImageNet classifier",
    "experiment=imagenet_vgg16_gradcam": "torchvision's pretrained VGG-16",
    "experiment=imagenet_resnet50_cam": "torchvision's pretrained ResNet-50",
    "model.arch=timm:deit_small_patch16_224": "a timm model's local weights file "
                                              "(tests/app/test_timm_runs.py runs timm models)",
}
# experiment / data choice -> the session fixture holding a small tree in its format
TREES = {"voc_resnet": "voc2012_tree", "coco_resnet": "coco2014_tree",
         "voc07_corloc": "voc2007_tree", "voc": "voc2012_tree", "coco": "coco2014_tree",
         "voc07": "voc2007_tree", "coco2017": "coco2017_tree",
         # the wsolevaluation benchmark: its data choices and every dataset x backbone recipe
         **{f"{d}{s}": f"{t}_tree" for d, t in (("cub", "cub"), ("ilsvrc", "ilsvrc_wsol"),
                                               ("openimages", "openimages"))
            for s in ("", "_vgg16_cam", "_inception_v3_cam", "_resnet50_cam")},
         "ilsvrc_wsol": "ilsvrc_wsol_tree"}


def runnable(command: DocCommand) -> str | None:
    """None when the command can run here on a small tree, else what it needs."""
    if not command.runnable:
        return "nothing more: a setting quoted in a table's description (composed above)"
    if command.script != "scripts/run.py" or command.multirun:
        return "a sweep or another script (composed above; tests/app/test_launchers.py runs one)"
    for token, need in NOT_HERE.items():
        if token in command.overrides:
            return need
    if "trainer.strategy=ddp" in command.overrides:  # Lightning re-executes the command line
        return "its own processes (tests/app/test_ddp.py runs it through scripts/run.py)"
    rest = [o for o in command.overrides if not o.startswith("data.root=")]
    if len(rest) == 1 and rest[0].startswith("experiment=") and \
            rest[0].split("=", 1)[1] in RECIPES:
        return "to run only once: tests/app/test_experiments.py runs it on its small tree"
    return None


@pytest.fixture(scope="module")
def tiny_demo_run(tiny_demo_tree, tmp_path_factory) -> Path:
    """A trained tiny demo run: model.pt, its CAM store (cache) and seeds."""
    from helpers.runs import run_pipeline

    run_dir = tmp_path_factory.mktemp("docs") / "run"
    run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", *TINY_TREE, *TINY,
                 "stages=[train,cam,localize,evaluate]")
    return run_dir


# the tiny_demo_tree fixture's generate settings: a run never regenerates the shared tree
TINY_TREE = ["data.generate.num_images=60", "data.generate.val_fraction=0.2"]


def _substituted(command: DocCommand, request, run_dir: Path, tmp_path: Path) -> list[str]:
    """The command's overrides with its placeholders pointing at small trees and a tiny run."""
    out = []
    for token in command.overrides:
        key, _, value = token.partition("=")
        if key == "model.checkpoint":
            token = f"model.checkpoint={run_dir / 'model.pt'}"
        elif key == "eval.seeds_dir":
            token = f"eval.seeds_dir={run_dir / 'seeds'}"
        elif key == "cam.store_dir":  # the tiny run's store, pinned
            token = f"cam.store_dir={json.loads((run_dir / 'cam_store.json').read_text())['path']}"
        elif key == "data.root":
            continue  # set below from the chosen dataset's small tree
        elif key == "hydra.run.dir":  # rerun stages in an existing run: a copy of the tiny run
            shutil.copytree(run_dir, tmp_path / "run")
            continue
        out.append(token)
    choice = next((t.split("=", 1)[1] for t in out if t.startswith(("experiment=", "data="))),
                  None)
    if choice in TREES:
        root, truth = request.getfixturevalue(TREES[choice])
        out.append(f"data.root={root}")
        if "metadata" in truth.extra:  # wsolevaluation's format: its metadata folder too
            out.append(f"data.metadata_dir={truth.extra['metadata']}")
    else:
        out += TINY_TREE  # the demo's tiny tree
    if choice not in TREES and not any(t.startswith("stages=") for t in out):
        # a demo override row: applied to the tiny run's model, as a user adds it to a run
        out += ["stages=[cam,localize,evaluate]", f"model.checkpoint={run_dir / 'model.pt'}"]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.where} {' '.join(c.args)}")
def test_every_runnable_documented_command_runs_on_a_small_tree(command, request,
                                                               tiny_demo_tree, tiny_demo_run,
                                                               tmp_path):
    from helpers.runs import run_pipeline

    need = runnable(command)
    if need is not None:
        pytest.skip(f"not run here, it needs {need}")
    overrides = _substituted(command, request, tiny_demo_run, tmp_path)
    metrics = run_pipeline(tmp_path / "run", f"paths.data_dir={tiny_demo_tree}", *TINY,
                           *overrides, cache_dir=tiny_demo_run.parent / "cache")
    assert metrics, overrides
