"""Any timm classifier by name (``model.arch=timm:<name>``), its weights from a local file.

Nothing is downloaded: ``model.weights`` is a path to the model's timm state dict (a
``.safetensors`` / ``.pth`` / ``.bin`` fetched beforehand, e.g. ``model.safetensors`` of
huggingface.co/timm/<name>), read without unpickling and loaded strictly (a file of another
model stops with one line); the classifier is then replaced by a new one for the run's classes,
unless the model is explained as it is. A missing file stops before any work with its path (the
preflight's ``model.weights`` rule).

Grad-CAM target (``model.target_layer`` names one; else found here):

- vision transformers (a ``patch_embed`` and ``blocks``): the last block's first LayerNorm
  (``blocks.<n-1>.norm1``, the tokens its attention mixes into the class token; the block's
  output reaches a class-token head through no patch token, so its gradients there are zero).
  The prefix tokens (class, distillation, registers) are dropped and the patch tokens laid on
  their grid, whatever the input size (built with ``dynamic_img_size``);
- convolutional networks: the module whose output is ``forward_features``' (timm's
  ``feature_info`` name when it is that module, else the outermost one), e.g. ``layer4``
  (ResNet), ``stages.3`` (ConvNeXt), ``bn2`` (EfficientNet).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import torch
from torch import nn

from wsol.errors import ConfigError, WeightsError


def _timm():
    try:
        import timm
    except ImportError:
        raise ConfigError("model.arch=timm:... needs the timm package: pip install timm") \
            from None
    return timm


def check_timm_name(name: str) -> None:
    """ConfigError naming close timm models when ``name`` is not one."""
    timm = _timm()
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise ConfigError(f"model.arch=timm:{name} is not a timm model"
                          + (f"; did you mean {close}?" if close else "; see timm.list_models()."))


def timm_weights_path(weights: str) -> Path:
    """The local file ``model.weights`` names for a timm model (relative: the launch dir)."""
    return Path(weights).expanduser().absolute()


def missing_weights_error(name: str, path: Path) -> WeightsError:
    return WeightsError(
        f"model.weights: the timm weights file {path} is missing (model.arch=timm:{name}). "
        f"Nothing is downloaded at run time: on a machine with internet fetch "
        f"https://huggingface.co/timm/{name} (model.safetensors) and put it there, or run with "
        "model.weights=null to train from scratch.")


class TokenGrid:
    """Reshape for the CAM engine: ViT tokens (N, T, D) -> (N, D, h, w), the first
    ``prefix`` tokens dropped, (h, w) the patch grid of the last input the model saw."""

    def __init__(self, patch_embed: nn.Module, prefix: int) -> None:
        self.patch_embed, self.prefix = patch_embed, int(prefix)
        self.grid: tuple[int, int] | None = None
        patch_embed.register_forward_pre_hook(self._observe)

    def _observe(self, module: nn.Module, args) -> None:
        size = tuple(args[0].shape[-2:])
        feat = getattr(module, "dynamic_feat_size", None)
        patch = module.patch_size
        self.grid = tuple(feat(size)) if feat else (size[0] // patch[0], size[1] // patch[1])

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 3:
            raise ConfigError(f"the ViT target layer gives shape {tuple(tokens.shape)}, not "
                              "tokens (B, T, D); name a block's norm with model.target_layer.")
        n, t, d = tokens.shape
        h, w = self.grid or (math.isqrt(t - self.prefix),) * 2
        if t - self.prefix != h * w:
            raise ConfigError(f"{t} tokens do not hold {self.prefix} prefix tokens and a {h}x{w} "
                              "patch grid; name another layer with model.target_layer.")
        return tokens[:, self.prefix:].transpose(1, 2).reshape(n, d, h, w)


def _create(name: str, num_classes: int, **kwargs) -> nn.Module:
    timm = _timm()
    try:  # vision transformers: any input size (pos. embeddings resampled on the fly)
        return timm.create_model(name, num_classes=num_classes, dynamic_img_size=True, **kwargs)
    except TypeError:
        return timm.create_model(name, num_classes=num_classes, **kwargs)


def build_timm(name: str, num_classes: int, weights: str | None = None,
               replace_head: bool = True) -> tuple[nn.Module, str]:
    """``(net, target_layer)`` for timm model ``name`` with ``num_classes`` outputs.

    weights: a local weights file or None (random init). replace_head=False keeps the file's
    classifier (explaining the model as it is): its class count must be ``num_classes``.
    """
    check_timm_name(name)
    net = _create(name, num_classes) if not weights else \
        _load_file(name, timm_weights_path(weights), num_classes, replace_head)
    if hasattr(net, "patch_embed") and hasattr(net, "blocks"):
        net.cam_reshape = TokenGrid(net.patch_embed, getattr(net, "num_prefix_tokens", 1))
        return net, _vit_target(net)
    return net, _cnn_target(net)


def _load_file(name: str, path: Path, num_classes: int, replace_head: bool) -> nn.Module:
    """timm model ``name`` with every tensor of the weights file ``path`` (strict: a file of
    another model stops), then a new ``num_classes`` head unless the file's is kept."""
    if not path.is_file():
        raise missing_weights_error(name, path)
    from timm.models import get_pretrained_cfg, load_state_dict

    heads = getattr(get_pretrained_cfg(name), "classifier", None) or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    try:
        state = load_state_dict(str(path), use_ema=False)  # safetensors or torch, no pickles
        found = [state[f"{h}.weight"].shape[0] for h in heads if f"{h}.weight" in state]
        net = _create(name, found[0] if found else num_classes)
        net.load_state_dict(state, strict=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file does not fit
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise WeightsError(f"model.weights={path} does not load into timm:{name} ({first}); "
                           "use that model's timm weights file (a timm state dict).") from None
    classes = net.num_classes
    if not replace_head and classes != num_classes:
        raise ConfigError(f"model.weights={path} has a {classes}-class classifier but "
                          f"data.classes has {num_classes} classes; train a new head "
                          "(stages=[train,...]).")
    if replace_head:
        net.reset_classifier(num_classes)  # a new head, as for torchvision backbones
    return net


def _vit_target(net: nn.Module) -> str:
    last = f"blocks.{len(net.blocks) - 1}"
    names = dict(net.named_modules())
    return f"{last}.norm1" if f"{last}.norm1" in names else last


def _cnn_target(net: nn.Module) -> str:
    """The module whose output object is forward_features' output (see the module doc)."""
    fired: list[tuple[str, nn.Module, torch.Tensor]] = []
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: fired.append((n, mod, out)))
               for n, m in net.named_modules() if n]
    was_training = net.training
    size = int(net.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    try:
        net.eval()
        with torch.no_grad():
            features = net.forward_features(torch.zeros(1, 3, size, size))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    names = [n for n, m, out in fired if out is features and not isinstance(m, nn.Identity)]
    if features.dim() != 4 or features.shape[1] != getattr(net, "num_features", -1) or not names:
        raise ConfigError(f"cannot find the Grad-CAM target layer of {type(net).__name__} "
                          f"(its features are {tuple(features.shape)}, not (B, D, h, w)); name "
                          "one with model.target_layer.")
    info = getattr(net, "feature_info", None)
    preferred = info[-1].get("module") if isinstance(info, list) and info else None
    return preferred if preferred in names else min(names, key=lambda n: n.count("."))


def timm_head_prefixes(net: nn.Module | None) -> tuple[str, ...]:
    """The classifier module(s) of a timm model, trained at ``model.head_lr_mult`` x the rate."""
    if net is None:
        return ()
    heads = net.pretrained_cfg.get("classifier") or ()
    return (heads,) if isinstance(heads, str) else tuple(heads)
