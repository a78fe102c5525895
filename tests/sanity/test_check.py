"""The randomisation tests end to end on a small network, against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsol.cam import METHODS
from wsol.models.backbones import build_backbone
from wsol.sanity import GUIDED_METHODS, METRICS, model_blocks, randomized_copy, run_sanity
from wsol.sanity.figure import save_sanity_figure
from wsol.sanity.similarity import rank_correlation

ALL = [*METHODS, *GUIDED_METHODS]


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    model, _ = build_backbone("resnet18_quarter", 4, output_stride=8)
    with torch.no_grad():
        for param in model.parameters():  # a spread in every tensor, as after training
            param.add_(0.05 * torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)),
            torch.tensor([0, 3, 1]))


@pytest.fixture(scope="module")
def result(net, batch):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = run_sanity(net, "layer4", *batch, ALL, tests=("cascading", "independent", "data"),
                     seed=7, comparisons={"itself": net}, examples=2)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    return out


def _class_activation(model: nn.Module, images: torch.Tensor, classes: torch.Tensor
                      ) -> np.ndarray:
    """CAM by hand: ReLU(W_c · A) from a forward hook on layer4, upsampled to the input."""
    feats = {}
    handle = model.layer4.register_forward_hook(lambda m, i, o: feats.update(a=o))
    with torch.no_grad():
        model(images)
    handle.remove()
    weights = model.fc.weight.detach()[classes]
    maps = F.relu(torch.einsum("nd,ndhw->nhw", weights, feats["a"]))
    return F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0].numpy()


def test_every_step_method_and_measure_is_scored_over_the_images(result, net):
    blocks = model_blocks(net)
    assert result.methods == ALL and not result.skipped
    assert len(result.rows) == (2 * len(blocks) + 1) * len(ALL) * len(METRICS)
    for r in result.rows:  # images whose trained map is constant are left out, and counted
        assert r["n"] == 3 - result.constant[r["method"]]
    assert [b for b, _ in result.cascade] == blocks
    assert result.reference["gradcam"].shape == (2, 32, 32)
    summary = result.summary()
    assert len(summary) == 3 * len(ALL) * len(METRICS)
    assert set(result.csv_text().splitlines()[0].split(",")) == {
        "test", "step", "block", "method", "metric", "mean", "std", "n"}


def test_a_model_compared_with_itself_is_identical_by_every_measure(result):
    data = [r for r in result.rows if r["test"] == "data" and r["n"]]
    assert data and all(np.isclose(r["mean"], 1.0) and r["std"] < 1e-9 for r in data)


def test_a_method_without_any_map_to_compare_has_no_mean_and_no_summary(batch):
    dead = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 4)).eval()
    with torch.no_grad():  # the target layer's output is all zeros: every CAM map is constant
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    out = run_sanity(dead, "1", *batch, ["gradcam"], tests=("data",),
                     comparisons={"itself": dead})
    assert out.constant == {"gradcam": 3}
    assert {r["n"] for r in out.rows} == {0} and all(np.isnan(r["mean"]) for r in out.rows)
    assert out.summary() == {}


def test_the_cam_row_equals_a_direct_computation_on_the_randomised_head(result, net, batch):
    images, classes = batch
    twin = randomized_copy(net, ["fc"], seed=7)
    trained, shuffled = _class_activation(net, images, classes), \
        _class_activation(twin, images, classes)
    expected = np.mean([rank_correlation(a, b) for a, b in zip(trained, shuffled, strict=True)
                        if np.ptp(a) > 0])  # a constant trained map has nothing to compare
    row = next(r for r in result.rows if (r["test"], r["block"], r["method"], r["metric"])
               == ("independent", "fc", "cam", "spearman"))
    assert np.isclose(row["mean"], expected, atol=1e-6)
    assert row["mean"] < 0.9  # a new head is a different explanation


def test_methods_a_model_cannot_support_are_skipped_with_the_reason(batch):
    flat_head = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(4 * 32 * 32, 4)).eval()
    with pytest.warns(RuntimeWarning, match="autograd path"):  # gradcam: the engine falls back
        out = run_sanity(flat_head, "1", *batch, ["gradcam", "cam", "guided_backprop"],
                         tests=("independent",))
    assert out.methods == ["gradcam", "guided_backprop"]
    assert "GAP + Linear" in out.skipped["cam"]


def test_the_figure_is_written(result, tmp_path):
    from PIL import Image

    path = save_sanity_figure(tmp_path / "sanity.png", result,
                              np.zeros((32, 32, 3), np.uint8))
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert width > 500 and height > 500
    assert pixels.std() > 20  # maps and curves, not an empty canvas
