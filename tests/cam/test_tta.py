"""multiscale_cams against a naive loop: one engine call per scale and per flip, image by image,
each scale's map times its number of target-layer positions (gradcam's scale fairness)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from wsol.cam import GradCAM, multiscale_cams
from wsol.cam.tta import IRN_SCALES


def naive_tta(engine, images, classes, scales, out_size, power=1):
    """Per image, per scale, per flip: resize, maybe mirror, CAM, mirror back, times
    (h·w) ** power, upsample, sum."""
    results = []
    height, width = images.shape[2:]
    for b in range(images.shape[0]):
        total = 0
        for s in scales:
            x = images[b : b + 1]
            size = (round(height * s), round(width * s))
            if size != (height, width):
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            for flip in (False, True):
                xi = x.flip(-1) if flip else x
                maps = engine(xi, classes=[list(classes[b])])[0]
                maps = maps.flip(-1) if flip else maps
                maps = maps * float(maps.shape[-1] * maps.shape[-2]) ** power
                total = (
                    total
                    + F.interpolate(
                        maps[None], size=out_size, mode="bilinear", align_corners=False
                    )[0]
                )
        peak = total.amax(dim=(1, 2), keepdim=True)
        results.append(torch.where(peak > 0, total / peak.clamp_min(1e-30), 0))
    return results


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=5).eval()


@pytest.mark.parametrize("closed_form", [None, False], ids=["closed_form", "autograd"])
def test_irn_tta_matches_naive_loop(resnet, closed_form):
    images = torch.randn(2, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    classes = [[1, 3], [4]]
    with GradCAM(resnet, "layer4", closed_form=closed_form) as engine:
        calls = []
        counting = lambda x, classes: calls.append(x.shape) or engine(x, classes=classes)  # noqa: E731
        ours = multiscale_cams(counting, images, classes, IRN_SCALES, flip=True, out_size=(24, 32),
                               positions_power=1)
        ref = naive_tta(engine, images, classes, IRN_SCALES, (24, 32))
    assert len(calls) == 4, "one forward per scale: flips share the batch with their originals"
    assert [c[0] for c in calls] == [4] * 4
    assert [m.shape for m in ours] == [(2, 24, 32), (1, 24, 32)]
    for got, want in zip(ours, ref, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        assert got.min() >= 0 and got.max() <= 1
        assert torch.allclose(got.flatten(1).amax(1), torch.ones(len(got)))


def test_shared_classes_and_default_out_size(resnet):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with GradCAM(resnet, "layer4") as engine:
        ours = multiscale_cams(engine, images, [0, 2], scales=(1.0, 0.5))
        ref = naive_tta(engine, images, [[0, 2], [0, 2]], (1.0, 0.5), (32, 32))
        # The naive loop always flips: compare with flip=True too.
        flipped = multiscale_cams(engine, images, [0, 2], scales=(1.0, 0.5), flip=True)
    assert [m.shape for m in ours] == [(2, 32, 32)] * 2
    for got, want in zip(flipped, ref, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_zero_map_stays_zero():
    def fake_engine(x, classes):
        maps = torch.zeros(x.shape[0], 2, 4, 4)
        maps[:, 1] = torch.arange(16.0).reshape(4, 4)
        return maps

    out = multiscale_cams(fake_engine, torch.zeros(1, 3, 16, 16), None, (1.0, 2.0), flip=True)
    assert torch.all(out[0][0] == 0)
    assert out[0][1].max() == 1 and out[0][1].min() >= 0


def test_empty_class_lists_need_no_forward():
    def no_engine(x, classes):
        raise AssertionError("no class asked: no forward pass either")

    out = multiscale_cams(no_engine, torch.zeros(2, 3, 8, 8), [[], []], IRN_SCALES, flip=True)
    assert [o.shape for o in out] == [(0, 8, 8), (0, 8, 8)]


def test_logits_come_from_the_first_scale_unflipped():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with GradCAM(model, "layer4") as cam:
        maps, logits = multiscale_cams(cam, x, [[1], [0, 3]], IRN_SCALES, flip=True,
                                       return_logits=True)
        plain = multiscale_cams(cam, x, [[1], [0, 3]], IRN_SCALES, flip=True)
    with torch.no_grad():
        torch.testing.assert_close(logits, model(x))
    for with_logits, without in zip(maps, plain, strict=True):
        torch.testing.assert_close(with_logits, without)


@pytest.mark.parametrize("flip", [False, True])
def test_a_picker_chooses_from_the_same_forward(flip, monkeypatch):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=6).eval()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        top2 = model(x).topk(2, dim=1).indices.tolist()
    with GradCAM(model, "layer4") as cam:
        expected = multiscale_cams(cam, x, top2, (1.0, 0.5), flip=flip)
        forwards = []
        real_forward = model.forward
        monkeypatch.setattr(model, "forward", lambda t: forwards.append(1) or real_forward(t))
        maps, logits = multiscale_cams(cam, x, lambda lg: lg.topk(2, dim=1).indices,
                                       (1.0, 0.5), flip=flip, return_logits=True)
    assert len(forwards) == 2  # one per scale: the picker costs no forward of its own
    assert logits.topk(2, dim=1).indices.tolist() == top2
    for ours, theirs in zip(maps, expected, strict=True):
        torch.testing.assert_close(ours, theirs)
