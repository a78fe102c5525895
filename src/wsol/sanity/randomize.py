"""Randomised copies of a classifier, block by block (Adebayo et al. 2018, Sec. 3.1).

A *block* is a unit of the network the test randomises at once: a top-level child that holds
parameters (ResNet: ``conv1``, ``bn1``, ``layer1`` .. ``layer4``, ``fc``), except that a
top-level ``nn.Sequential`` of plain layers (VGG's ``features`` / ``classifier``) is split into
its parameterised layers (``features.28``, ``classifier.6``). :func:`model_blocks` lists them
from the logits down, the order of the cascading test.

Redrawing a block replaces every parameter tensor in it by Gaussian noise: weights (tensors of
2 or more dimensions) with mean 0 and the trained tensor's standard deviation, as an
initialisation would draw them (Adebayo et al. redraw from the initialisation distribution);
biases and normalisation scales / shifts (1-D) with the trained tensor's mean and standard
deviation, so each layer's output keeps its level. Activations keep their scale while
everything the weights learned is gone. (Keeping a weight tensor's mean would not do: a
multi-label head's rows are mostly negative, and Σ_k w_k A_k over ReLU'd activations would
then be negative everywhere, every randomised CAM all zero.) Buffers (BatchNorm running
statistics) are kept: they describe the data, not what the model learned to detect.
Each block's draw comes from its own generator (``seed`` + its index in :func:`model_blocks`),
so a block is redrawn identically in every copy that randomises it: the cascading test's first
step equals the independent test's first step. The model passed in is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from wsol.errors import ConfigError

TESTS = ("cascading", "independent")


def _owns_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _is_plain_sequence(module: nn.Module) -> bool:
    """A Sequential with at least one parameterised leaf among its direct children (VGG)."""
    return isinstance(module, nn.Sequential) and any(
        _owns_parameters(child) and not any(True for _ in child.children())
        for child in module.children())


def model_blocks(model: nn.Module) -> list[str]:
    """Dotted names of the model's blocks, from the logits down (see the module docstring).

    Raises ConfigError when the model holds no parameters.
    """
    blocks: list[str] = []
    for name, child in model.named_children():
        if not _owns_parameters(child):
            continue
        if _is_plain_sequence(child):
            blocks += [f"{name}.{sub}" for sub, layer in child.named_children()
                       if _owns_parameters(layer)]
        else:
            blocks.append(name)
    if not blocks:
        raise ConfigError(f"{type(model).__name__} has no parameters to randomise")
    return blocks[::-1]


@torch.no_grad()
def _redraw(module: nn.Module, generator: torch.Generator) -> None:
    for param in module.parameters():
        values = param.detach().float()
        std = values.std().item() if values.numel() > 1 else 0.0
        mean = values.mean().item() if param.dim() < 2 else 0.0
        noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
        param.copy_((noise * std + mean).to(param.dtype))


def randomized_copy(model: nn.Module, blocks: Sequence[str], seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` (same mode and device) with ``blocks`` redrawn.

    blocks: names from :func:`model_blocks`; ConfigError for any other name.
    """
    order = model_blocks(model)
    unknown = [b for b in blocks if b not in order]
    if unknown:
        raise ConfigError(f"cannot randomise {unknown}: the model's blocks are {order}")
    twin = copy.deepcopy(model)
    for name in blocks:
        generator = torch.Generator().manual_seed(int(seed) + order.index(name))
        _redraw(twin.get_submodule(name), generator)
    return twin


def randomizations(model: nn.Module, test: str, seed: int = 0
                   ) -> Iterator[tuple[int, str, nn.Module]]:
    """``(step, block, copy)`` per step of ``test``: ``cascading`` randomises the blocks from
    the logits down to ``block`` (step 1 = the top block alone), ``independent`` ``block``
    alone. One copy exists at a time, so memory stays at two models."""
    if test not in TESTS:
        raise ConfigError(f"sanity test {test!r} is unknown; choose one of {list(TESTS)}")
    order = model_blocks(model)
    for step, block in enumerate(order, start=1):
        chosen = order[:step] if test == "cascading" else [block]
        yield step, block, randomized_copy(model, chosen, seed)
