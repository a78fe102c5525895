"""The portable classifier file the train stage writes and the CAM stage reads.

It holds tensors and plain metadata only, so it loads with ``weights_only=True`` and nothing is
ever unpickled.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from wsol.errors import WeightsError
from wsol.io.atomic import atomic_write_with
from wsol.models.backbones import BACKBONES, build_backbone, head_parameter_names

META_KEYS = ("arch", "num_classes", "output_stride", "class_names")


def save_classifier(path: Path, net: nn.Module, meta: dict) -> None:
    """Write ``net``'s weights and ``meta`` atomically.

    ``meta`` holds arch, num_classes, output_stride and class_names.
    """
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"classifier metadata lacks {missing}")
    payload = {"format": "wsol-classifier-v1", **meta,
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    atomic_write_with(Path(path), lambda handle: torch.save(payload, handle))


def require_checkpoint(path: Path) -> Path:
    """``path`` if the file exists, else a WeightsError saying how to make or name one."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Checkpoint {path} does not exist; run the train stage first "
                           "(stages=[train,...]) or set model.checkpoint=PATH.")
    return path


def load_classifier(
    path: Path, class_names: list[str] | None = None
) -> tuple[nn.Module, str, dict]:
    """Rebuild the network saved by :func:`save_classifier`.

    Args:
        path: the ``model.pt`` file.
        class_names: when given, the checkpoint must have been trained on exactly these classes.

    Returns:
        ``(net, target_layer, meta)`` with ``net`` in eval mode on the CPU.
    """
    path = require_checkpoint(path)
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not a wsol checkpoint; rerun the train "
                           "stage or point model.checkpoint at a model.pt it wrote.")
    try:  # weights_only: tensors and plain containers only, never arbitrary objects
        with warnings.catch_warnings():  # torch's pickle-protocol notes: our message says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure means "not our file"
        why = ("it holds Python objects other than tensors, which are never unpickled"
               if "Weights only load failed" in str(err) else type(err).__name__)
        raise WeightsError(
            f"{path} is not a wsol checkpoint ({why}); "
            "point model.checkpoint at a model.pt written by the train stage.") from None
    if not isinstance(payload, dict) or payload.get("format") != "wsol-classifier-v1":
        raise WeightsError(f"{path} is not a wsol checkpoint (no 'wsol-classifier-v1' marker); "
                           "point model.checkpoint at a model.pt written by the train stage.")
    lacking = [k for k in (*META_KEYS, "state_dict") if k not in payload]
    if lacking:
        raise WeightsError(f"{path} is a damaged wsol checkpoint (no {lacking}); retrain "
                           "(stages=[train,...]) or point model.checkpoint at another model.pt.")
    saved = list(payload["class_names"])
    if class_names is not None and list(class_names) != saved:
        raise WeightsError(
            f"{path} was trained for {len(saved)} classes {saved[:5]}..., but the data config "
            f"has {len(class_names)} classes {list(class_names)[:5]}...; retrain or pick the "
            "matching data config."
        )
    # a bias-free head (model.recipe=irn) is told by its state dict
    state = payload["state_dict"]
    head_bias = not (payload["arch"] in BACKBONES and isinstance(state, dict)
                     and f"{head_parameter_names(payload['arch'])}.weight" in state
                     and f"{head_parameter_names(payload['arch'])}.bias" not in state)
    net, target_layer = build_backbone(payload["arch"], payload["num_classes"], None,
                                       payload["output_stride"], head_bias=head_bias)
    try:
        net.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:  # edited or mixed-up weights
        first = str(err).strip().splitlines()[-1].strip()[:200]
        raise WeightsError(
            f"{path}: the weights do not fit model.arch={payload['arch']!r} with "
            f"{payload['num_classes']} classes ({first}); retrain (stages=[train,...]) or point "
            "model.checkpoint at a model.pt written by the train stage.") from None
    net.eval()
    meta = {k: payload[k] for k in META_KEYS}
    return net, target_layer, meta
