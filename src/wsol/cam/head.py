"""Target-layer lookup and detection of a closed-form head (global average pooling + one Linear).

When everything between the target layer and the logits is a global average pool followed by one
linear layer, ∂y^c/∂A^k_ij = W_ck / (h·w) at every position, so no backward pass is needed. The
structural check here only proposes that head; the engine confirms it numerically on the first
batch (the model's ``forward`` could do something the module list does not show).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wsol.errors import ConfigError

# Modules that are the identity on a (pooled) feature vector in eval mode.
_PASS_THROUGH = (nn.Identity, nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_GLOBAL_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)


def resolve_layer(model: nn.Module, target_layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(name, module)`` for a module name such as ``"layer4"`` or a module of ``model``.

    Raises ConfigError naming a few valid layer names when the name or module is not in the model.
    """
    modules = dict(model.named_modules())
    if isinstance(target_layer, str):
        if target_layer in modules and target_layer != "":
            return target_layer, modules[target_layer]
        raise ConfigError(
            f"cam target layer {target_layer!r} is not a module of {type(model).__name__}; "
            f"valid names include {_suggest(modules, target_layer)} (see model.named_modules())"
        )
    if isinstance(target_layer, nn.Module):
        for name, module in modules.items():
            if module is target_layer and name != "":
                return name, module
        raise ConfigError(
            f"the target layer module {type(target_layer).__name__} is not a submodule of "
            f"{type(model).__name__}; pass one of {_suggest(modules, '')} or the module itself"
        )
    raise ConfigError(
        f"cam target layer must be a module name or an nn.Module, got {type(target_layer).__name__}"
    )


def _suggest(modules: dict[str, nn.Module], wanted: str, count: int = 6) -> str:
    """A short list of plausible layer names: close matches first, then the top-level children."""
    import difflib

    names = [n for n in modules if n]
    close = difflib.get_close_matches(wanted, names, n=count) if wanted else []
    top = [n for n in names if "." not in n]
    picked = list(dict.fromkeys(close + top))[:count]
    return ", ".join(repr(n) for n in picked)


@dataclass(frozen=True)
class LinearHead:
    """A GAP + Linear head: logits = mean_spatial(A) @ weight.T + bias.

    ``linear`` is an nn.Linear or a 1x1 nn.Conv2d classifier (IRN style). The module is held, not
    its tensors, so a model moved or trained later is read as it is now.
    """

    linear: nn.Module

    @property
    def weight(self) -> torch.Tensor:
        """(C, D) classifier weights, detached."""
        return self.linear.weight.detach().flatten(1)

    @property
    def bias(self) -> torch.Tensor | None:
        """(C,) bias or None, detached."""
        return None if self.linear.bias is None else self.linear.bias.detach()

    def logits(self, activations: torch.Tensor) -> torch.Tensor:
        """Recompute logits (B, C) from activations (B, D, *spatial) in float32."""
        pooled = activations.float().flatten(2).mean(-1)
        out = pooled @ self.weight.float().t()
        return out if self.bias is None else out + self.bias.float()

    def matches(self, activations: torch.Tensor, logits: torch.Tensor, rtol: float) -> bool:
        """True if the model's logits equal the closed-form head's to ``rtol`` of their scale."""
        if activations.dim() < 3 or activations.shape[1] != self.weight.shape[1]:
            return False
        if logits.dim() != 2 or logits.shape[1] != self.weight.shape[0]:
            return False
        expected = self.logits(activations)
        scale = expected.abs().max().item() + 1.0
        return bool((expected - logits.float()).abs().max().item() <= rtol * scale)


def leaves_after(model: nn.Module, layer_name: str) -> list[nn.Module]:
    """Leaf modules registered after ``layer_name`` (outside its subtree), in registration
    order, without the ones that are the identity in eval mode (Identity, Flatten, Dropout)."""
    after: list[nn.Module] = []
    seen = False
    prefix = layer_name + "."
    for name, module in model.named_modules():
        if name == layer_name:
            seen = True
            continue
        if not seen or name.startswith(prefix) or any(True for _ in module.children()):
            continue
        if not isinstance(module, _PASS_THROUGH):
            after.append(module)
    return after


def find_linear_head(model: nn.Module, layer_name: str) -> LinearHead | None:
    """Propose a GAP + Linear head after ``layer_name`` from the module registration order.

    torchvision classifiers register their modules in forward order (ResNet: ..., layer4, avgpool,
    fc; VideoResNet likewise). The leaf modules registered after the target layer (outside its
    subtree) must be, ignoring Identity/Flatten/Dropout, one global average pool (output size 1)
    or none (a functional mean) followed by exactly one nn.Linear or 1x1 nn.Conv2d classifier.
    Returns None otherwise.
    """
    after = leaves_after(model, layer_name)
    if after and isinstance(after[0], _GLOBAL_POOLS):
        if not _is_global(after[0]):
            return None
        after = after[1:]
    if len(after) != 1 or not _is_linear(after[0]):
        return None
    return LinearHead(linear=after[0])


def _is_linear(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return (
        isinstance(module, nn.Conv2d)
        and module.kernel_size == (1, 1)
        and module.groups == 1
        and module.stride == (1, 1)
        and module.padding in ((0, 0), "valid")
    )


def _is_global(pool: nn.Module) -> bool:
    size = pool.output_size
    sizes = size if isinstance(size, tuple) else (size,)
    return all(s == 1 for s in sizes)
