"""Every method's per-scale map is independent of the feature map's size (issue 10, item 1).

Oracle: the same features seen at twice the resolution (each position replicated 2 x 2, so a
GAP + Linear head gives the same logits) must give the same map, replicated, once each scale's
map is multiplied by S ** positions_power. Without the factor, gradcam's map at 2x would be 4x
smaller, so a wrong power fails this test. And gradcam's rescaled map on a bias-free GAP +
Linear head is IRN's raw CAM ReLU(W_c · A) itself.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsol.cam import GradCAM
from wsol.cam.methods import METHODS
from wsol.cam.tta import scale_maps

D, C = 6, 3


class Replicate(nn.Module):
    """The 'backbone': features = the input, each position repeated factor x factor times."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.factor, -1).repeat_interleave(self.factor, -2)


def gap_linear(factor: int, fc: nn.Linear) -> nn.Module:
    return nn.Sequential(OrderedDict(features=Replicate(factor), pool=nn.AdaptiveAvgPool2d(1),
                                     flat=nn.Flatten(), fc=fc)).eval()


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    fc = nn.Linear(D, C, bias=False)
    x = torch.rand(2, D, 5, 7) * (torch.rand(2, D, 5, 7) > 0.3)  # non-negative, some zeros
    return fc, x


# gradcam++lib's eps (1e-6 added to a denominator of order G²) breaks exact independence.
EXACT = [m for m in METHODS if m != "gradcam++lib"]


@pytest.mark.parametrize("closed_form", [None, False], ids=["closed_form", "autograd"])
@pytest.mark.parametrize("method", EXACT)
def test_rescaled_maps_do_not_depend_on_the_feature_size(case, method, closed_form):
    if method == "cam" and closed_form is False:
        pytest.skip("cam has no autograd path")
    fc, x = case
    classes = [0, 1, 2]
    with GradCAM(gap_linear(1, fc), "features", method, closed_form=closed_form) as small, \
            GradCAM(gap_linear(2, fc), "features", method, closed_form=closed_form) as large:
        at_1 = scale_maps(small, [x], classes).maps[0]
        at_2 = scale_maps(large, [x], classes).maps[0]
    assert at_1.shape == (2, 3, 5, 7) and at_2.shape == (2, 3, 10, 14)
    assert at_1.abs().max() > 0
    replicated = at_1.repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(at_2, replicated, rtol=1e-5, atol=1e-6 * at_1.abs().max())


def test_gradcam_times_positions_is_irns_raw_cam(case):
    fc, x = case
    with GradCAM(gap_linear(1, fc), "features", "gradcam") as engine:
        ours = scale_maps(engine, [x], [0, 2], flip=True).maps[0]
    raw = F.relu(torch.einsum("kd,bdhw->bkhw", fc.weight[[0, 2]], x))
    irn = raw + F.relu(torch.einsum("kd,bdhw->bkhw", fc.weight[[0, 2]], x.flip(-1))).flip(-1)
    torch.testing.assert_close(ours, irn, rtol=1e-5, atol=1e-6)

