"""GradCAM engine: every requested class from one forward pass and at most one head backward.

    with GradCAM(model, "layer4") as cam:
        maps = cam(images)                       # (B, C, h, w), all classes
        maps = cam(images, classes=[3, 7])       # (B, 2, h, w)
        maps = cam(images, classes=[[3], [1, 7]])  # list: (1, h, w), (2, h, w)

How: a forward hook on the target layer detaches its output A into a leaf that requires grad
and lets the rest of the network run from that leaf with all parameters frozen, so autograd
records only the head (target layer -> logits). The gradients of all K requested scores are
then one vmapped backward (see vjp.py). When the head is global average pooling + one Linear,
∂y^c/∂A = W_c/(h·w) everywhere and no graph is built at all (closed form, checked on the first
batch against the model's own logits).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from wsol.cam.classes import ClassRequest, ClassSpec, parse_classes
from wsol.cam.head import LinearHead, find_linear_head, resolve_layer
from wsol.cam.layout import Reshape, apply_batched, default_reshape
from wsol.cam.methods import CamMethod, cam_maps, get_method
from wsol.cam.mlp_head import MLPHead, find_mlp_head
from wsol.cam.vjp import HeadVJP, one_hot_rows
from wsol.errors import ConfigError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_HALF = (torch.float16, torch.bfloat16)


class GradCAM:
    """Class activation maps for a classifier's target layer (any gradient-CAM method).

    Args:
        model: images (B, 3, H, W) [or clips (B, 3, T, H, W)] -> logits (B, C). Put it in
            eval mode first; its parameters' requires_grad flags are restored after each call.
        target_layer: module name ("layer4", "features.29") or the module itself.
        method: a name of :data:`wsol.cam.methods.METHODS` (gradcam, gradcam++, gradcam++lib,
            xgradcam, hirescam, layercam, cam; cam needs a GAP + Linear head).
        precision: fp32 | bf16 | fp16 — autocast dtype of the forward pass; the weighting and
            sum are always float32.
        channels_last: run the forward in channels-last memory format (converts the model's
            parameters' layout once, values unchanged).
        closed_form: None detects a GAP + Linear head and skips the backward; False forces the
            autograd path; True requires the closed form (ConfigError if the head is not one).
        reshape: maps the layer output (N, ...) to (N, D, *spatial); default: the model's
            ``cam_reshape`` attribute if it has one, else conv maps as they are and
            transformer tokens (N, 1+h·w, D) to (N, D, h, w).
        max_grad_bytes: memory allowed for the gradients of one chunk of classes (default: half
            the free CUDA memory, or 2 GiB on CPU).
        relu: False returns the weighted sum before the final ReLU (maps may be negative;
            wsolevaluation's CAM, which it min-max normalises).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        method: str = "gradcam",
        *,
        precision: str = "fp32",
        channels_last: bool = False,
        closed_form: bool | None = None,
        reshape: Reshape | None = None,
        max_grad_bytes: int | None = None,
        relu: bool = True,
    ) -> None:
        self.model = model
        self.layer_name, self.layer = resolve_layer(model, target_layer)
        self.spec: CamMethod = get_method(method)
        self.method = self.spec.name
        self.relu = bool(relu)
        if precision not in PRECISIONS:
            raise ConfigError(f"cam.precision {precision!r} is unknown; choose fp32, bf16 or fp16")
        self.precision = precision
        self.channels_last = channels_last
        self._layout_done = False
        self._head: LinearHead | MLPHead | None = None
        if closed_form is not False:
            self._head = find_linear_head(model, self.layer_name)
            if self._head is None and "mlp" in self.spec.closed_forms:  # α's mean suffices
                self._head = find_mlp_head(model, self.layer_name)
                if self._head is not None:
                    self._head.attach()
        if closed_form is True and self._head is None:
            raise ConfigError(
                f"closed_form=True but the head after {self.layer_name!r} is neither global "
                "average pooling + one nn.Linear nor (for gradcam) pools + Linear/ReLU layers; "
                "use closed_form=None to fall back to autograd"
            )
        if not self.spec.needs_gradients and closed_form is False:
            raise ConfigError(
                f"cam.method {self.method!r} reads the classifier weights; it has no autograd "
                "path, so drop closed_form=False"
            )
        if not self.spec.needs_gradients and self._head is None:
            raise ConfigError(
                f"cam.method {self.method!r} needs a GAP + Linear head after "
                f"{self.layer_name!r} (e.g. ResNet layer4); this model has another head, so "
                "use 'gradcam'"
            )
        self._head_checked = False
        # a model may carry its own token layout (wsol.models.timm_backbones.TokenGrid)
        self._reshape = reshape or getattr(model, "cam_reshape", None) or default_reshape
        self._vjp = HeadVJP(max_grad_bytes or _default_grad_bytes(model))
        self._mode: str | None = None  # None: hook inactive; "record" or "leaf" during a call
        self._captured: torch.Tensor | None = None
        self._handle: Any = self.layer.register_forward_hook(self._hook)

    # -- public API ---------------------------------------------------------------------------

    @property
    def uses_closed_form(self) -> bool:
        """True while the GAP + Linear closed form is in use (no backward pass)."""
        return self._head is not None

    def __call__(
        self,
        images: torch.Tensor,
        classes: ClassSpec = None,
        return_logits: bool = False,
    ) -> Any:
        """Maps for ``images`` (B, 3, H, W) or (B, 3, T, H, W).

        classes: None (all C classes), a sequence of K class indices for every image, a
        per-image list of index lists (or a (B, K) tensor), or a callable logits (B, C) ->
        per-image lists (e.g. top-k, still one forward pass).
        Returns float32 maps >= 0 (any sign with relu=False; not normalised) on the model's
        device at the target layer's resolution: (B, K, h, w) [(B, K, t, h, w) for clips], or
        for per-image classes a list of B tensors (K_i, h, w). With return_logits, also the
        logits (B, C) float32.
        """
        if self._handle is None:
            raise RuntimeError("this GradCAM was closed; create a new one")
        with torch.inference_mode(False):
            images = self._prepare(images)
            closed = self._head is not None
            maps, logits = self._compute(images, classes, closed)
            if closed and self._head is None:  # closed form rejected on this batch
                maps, logits = self._compute(images, classes, False)
        return (maps, logits) if return_logits else maps

    def close(self) -> None:
        """Remove the hook from the target layer (idempotent)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if isinstance(self._head, MLPHead):
            self._head.remove()

    def __enter__(self) -> GradCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- internals ----------------------------------------------------------------------------

    def _compute(self, images: torch.Tensor, classes: ClassSpec, closed: bool) -> tuple[Any, Any]:
        logits, captured = self._forward(images, closed)
        logits = logits.float() if logits.dtype in _HALF else logits
        if closed and not self._check_head(captured, logits):
            return None, None
        spec = parse_classes(classes, images.shape[0], logits.shape[1], logits.detach())
        acts = self._reshape(captured.detach().float())  # (B, D, *spatial)
        spatial = acts.shape[2:]
        flat = acts.flatten(2)
        if closed:
            assert self._head is not None
            if isinstance(self._head, MLPHead):  # α straight from the head's weights
                grads = self._head.gradcam_weights(acts, spec.index)  # (B, K, D)
            else:
                rows = self._head.weight.float()[spec.index]  # (B, K, D)
                # G = ∂y^c/∂A = W_c / S at every position (the rows themselves for 'cam')
                grads = rows / flat.shape[-1] if self.spec.needs_gradients else rows
            maps = cam_maps(self.spec, flat, grads[..., None], self.relu)
        else:
            maps = torch.cat(list(self._autograd_maps(logits, captured, flat, spec)), dim=1)
        maps = maps.float().unflatten(2, spatial)
        # clone(): logits made in inference mode would refuse the caller's in-place ops
        return spec.split(maps), logits.detach().float().clone()

    def _autograd_maps(
        self, logits: torch.Tensor, leaf: torch.Tensor, flat: torch.Tensor, spec: ClassRequest
    ) -> Iterator[torch.Tensor]:
        rows = one_hot_rows(spec.index, spec.valid, logits.shape[1])
        if rows.shape[0] == 0:
            yield flat.new_zeros(flat.shape[0], 0, flat.shape[2])
            return
        for _, _, grads in self._vjp.chunks(logits, leaf, rows):
            g = apply_batched(self._reshape, grads.float(), lead=1).flatten(3)  # (k, B, D, S)
            yield cam_maps(self.spec, flat, g.transpose(0, 1), self.relu)

    def _forward(self, images: torch.Tensor, closed: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self.model.training:
            warnings.warn(
                "GradCAM on a model in training mode (dropout, batch statistics): "
                "call model.eval() first",
                RuntimeWarning,
                stacklevel=4,
            )
        # The backbone always runs without autograd; in "leaf" mode the hook turns autograd on
        # at the target layer, so only the head is recorded (no per-call requires_grad edits).
        # The closed form needs no autograd at all: inference mode also skips autograd's
        # per-op dispatch, which matters when a short (bf16) forward is bound by launch cost.
        grad_mode = torch.inference_mode() if closed else torch.no_grad()
        dtype = PRECISIONS[self.precision]
        autocast = (
            torch.autocast(images.device.type, dtype=dtype)
            if dtype is not None
            else contextlib.nullcontext()
        )
        self._mode, self._captured = ("record" if closed else "leaf"), None
        mlp = self._head if closed and isinstance(self._head, MLPHead) else None
        try:
            if mlp is not None:
                mlp.recording(True)  # its ReLU masks come from this very forward
            with grad_mode, autocast:
                logits = self.model(images)
            captured = self._captured
        finally:
            self._mode, self._captured = None, None
            if mlp is not None:
                mlp.recording(False)
        if captured is None:
            raise ConfigError(
                f"cam target layer {self.layer_name!r} did not run in the forward pass; pick a "
                "layer on the path from the images to the logits"
            )
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            raise ConfigError("GradCAM needs a model returning logits (B, C) as one tensor")
        return logits, captured

    def _hook(self, module: nn.Module, args: Any, output: Any) -> Any:
        if self._mode is None:
            return None
        if not isinstance(output, torch.Tensor):
            raise ConfigError(
                f"cam target layer {self.layer_name!r} returns {type(output).__name__}, not a "
                "tensor; pick a layer whose output is one tensor"
            )
        if self._captured is not None:
            raise ConfigError(
                f"cam target layer {self.layer_name!r} runs more than once per forward pass "
                "(a shared module); pick a layer that runs once, e.g. the block containing it"
            )
        if self._mode == "record":
            self._captured = output.detach()
            return None
        torch.set_grad_enabled(True)  # the enclosing no_grad() restores the mode afterwards
        work = torch.float32 if output.dtype in _HALF else output.dtype
        leaf = output.detach().to(work).requires_grad_(True)
        self._captured = leaf
        # Give the head a copy: later in-place ops (ReLU(inplace=True)) must not touch the leaf.
        return leaf.to(output.dtype) if work != output.dtype else leaf.clone()

    def _check_head(self, acts: torch.Tensor, logits: torch.Tensor) -> bool:
        if self._head_checked:
            return True
        assert self._head is not None
        rtol = 3e-2 if self.precision != "fp32" else 1e-3
        try:
            grid = self._reshape(acts.float())
        except ConfigError:
            grid = None
        if grid is not None and self._head.matches(grid, logits, rtol):
            self._head_checked = True
            return True
        if not self.spec.needs_gradients:
            raise ConfigError(
                f"cam.method {self.method!r}: the logits are not GAP + Linear of "
                f"{self.layer_name!r} (the model's forward does more); use 'gradcam'"
            )
        warnings.warn(
            f"the head after {self.layer_name!r} looks closed-form (GAP + Linear, or pools + "
            "Linear/ReLU layers) but the logits differ; using the autograd path",
            RuntimeWarning,
            stacklevel=4,
        )
        if isinstance(self._head, MLPHead):
            self._head.remove()
        self._head = None
        return False

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.is_inference():
            images = images.clone()  # inference tensors cannot enter an autograd graph
        images = images.detach()  # keep the graph to the head even if the caller's input needs grad
        device = _model_device(self.model)
        if device is not None and images.device != device:
            images = images.to(device, non_blocking=True)
        if self.channels_last and images.dim() in (4, 5):
            fmt = torch.channels_last if images.dim() == 4 else torch.channels_last_3d
            if not self._layout_done:
                self.model.to(memory_format=fmt)
                self._layout_done = True
            images = images.contiguous(memory_format=fmt)
        return images


def _model_device(model: nn.Module) -> torch.device | None:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return None


def _default_grad_bytes(model: nn.Module) -> int:
    device = _model_device(model)
    if device is not None and device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(free // 2, 1 << 28)
    return 2 << 30


__all__ = ["GradCAM", "PRECISIONS"]
