"""The portable classifier file the train stage writes and the CAM stage reads.

It holds tensors and plain metadata only, so it loads with ``weights_only=True`` and nothing is
ever unpickled. A SHA-256 of the weights is written with them and checked on load: torch's
reader does not check its zip's CRCs, so a flipped bit would otherwise load as other weights.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch import nn

from wsol.errors import WeightsError, WsolError
from wsol.io.atomic import atomic_write_with
from wsol.models.backbones import BACKBONES, build_backbone

META_KEYS = ("arch", "num_classes", "output_stride", "class_names")


def save_classifier(path: Path, net: nn.Module, meta: dict) -> None:
    """Write ``net``'s weights and ``meta`` atomically.

    ``meta`` holds arch, num_classes, output_stride and class_names.
    """
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"classifier metadata lacks {missing}")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    payload = {"format": "wsol-classifier-v1", **meta, "state_dict": state,
               "state_dict_sha256": state_dict_sha256(state)}
    atomic_write_with(Path(path), lambda handle: torch.save(payload, handle))


def state_dict_sha256(state: dict) -> str:
    """Hex SHA-256 over a state dict's names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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
    _check_meta(path, payload)
    saved = list(payload["class_names"])
    if class_names is not None and list(class_names) != saved:
        raise WeightsError(
            f"{path} was trained for {len(saved)} classes {saved[:5]}..., but the data config "
            f"has {len(class_names)} classes {list(class_names)[:5]}...; retrain or pick the "
            "matching data config."
        )
    # a bias-free head (model.recipe=irn) is told by its state dict
    state = payload["state_dict"]
    head = BACKBONES[payload["arch"]].head if payload["arch"] in BACKBONES else None
    head_bias = not (head and isinstance(state, dict)
                     and f"{head}.weight" in state and f"{head}.bias" not in state)
    try:
        net, target_layer = _build_to_load(payload["arch"], payload["num_classes"],
                                           payload["output_stride"], head_bias, state)
    except WsolError as err:  # it names config keys; the file is what is wrong here
        raise WeightsError(f"{path}: its metadata describes no model this version builds "
                           f"({err}); retrain (stages=[train,...]) or point model.checkpoint at "
                           "another model.pt.") from None
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


def _build_to_load(arch: str, num_classes: int, output_stride: int, head_bias: bool,
                   state: dict) -> tuple[nn.Module, str]:
    """The network a checkpoint's ``state`` will fill, built without random initialisation
    when ``state`` names every parameter and buffer it has (VGG-16's initialisation alone takes
    about a second on a CPU, ResNet-50's a third): built on the meta device, then given empty
    CPU storage that ``load_state_dict`` overwrites. A network with a tensor the state does not
    hold (a non-persistent buffer, a key the state lacks) is built and initialised as usual."""
    try:
        with torch.device("meta"):
            net, target_layer = build_backbone(arch, num_classes, None, output_stride,
                                               head_bias=head_bias)
    except (NotImplementedError, RuntimeError):  # a builder that computes on its tensors
        net = None
    if net is not None:
        tensors = [name for name, _ in net.named_parameters()]
        tensors += [name for name, _ in net.named_buffers()]
        if all(name in state for name in tensors):
            return net.to_empty(device="cpu"), target_layer
    return build_backbone(arch, num_classes, None, output_stride, head_bias=head_bias)


def _check_meta(path: Path, payload: dict) -> None:
    """The metadata agrees with itself and the weights: types, ``num_classes`` equal to the
    number of class names, every floating-point tensor finite (a diverged run saves NaNs)."""
    names, count, stride = payload["class_names"], payload["num_classes"], payload["output_stride"]
    problem = None
    if not isinstance(payload["arch"], str):
        problem = f"arch is {payload['arch']!r}, not a name"
    elif not (isinstance(names, list | tuple) and names
              and all(isinstance(n, str) for n in names)):
        problem = "class_names is not a list of names"
    elif not (isinstance(count, int) and not isinstance(count, bool) and count == len(names)):
        problem = f"num_classes={count!r} but it lists {len(names)} class names"
    elif not isinstance(stride, int) or isinstance(stride, bool):
        problem = f"output_stride={stride!r} is not an integer"
    elif not isinstance(payload["state_dict"], dict):
        problem = "state_dict is not a mapping of tensors"
    checksum = payload.get("state_dict_sha256")  # None: written before checksums existed
    if problem is None and checksum is not None and not (
            all(isinstance(t, torch.Tensor) for t in payload["state_dict"].values())
            and state_dict_sha256(payload["state_dict"]) == checksum):
        problem = ("its weights do not match the checksum saved with them (the file changed "
                   "after it was written: a copy error or a flipped bit)")
    if problem is None:
        for key, tensor in payload["state_dict"].items():
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() \
                    and not bool(torch.isfinite(tensor).all()):
                problem = (f"tensor {key!r} holds NaN or infinite values (training diverged, "
                           "or the file was damaged)")
                break
    if problem:
        raise WeightsError(f"{path} is a damaged wsol checkpoint: {problem}; retrain "
                           "(stages=[train,...]) or point model.checkpoint at another model.pt.")
