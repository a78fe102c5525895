"""The dense CRF against a brute-force O(N^2) mean field written from the energy."""

import math

import numpy as np
import pytest
import torch

from wsol.pseudo.crf import CrfParams, DenseCrf, label_unary, prob_unary, spatial_kernel

PARAMS = CrfParams(iterations=5, gt_prob=0.7, spatial_sxy=2.0, spatial_compat=3.0,
                   bilateral_sxy=6.0, bilateral_srgb=20.0, bilateral_compat=5.0)


def _brute_force(image: np.ndarray, unary: np.ndarray, p: CrfParams) -> np.ndarray:
    """Mean field in float64 from the Potts energy: Q_i(l) ∝ exp(-U_i(l) - sum_m w_m
    sum_l' [l != l'] sum_j Kn_m[i, j] Q_j(l')), Kn = D^-1/2 K D^-1/2 with the full N x N
    Gaussian matrices (self term included). unary (L, H, W) -> Q (L, H, W)."""
    h, w, _ = image.shape
    ys, xs = np.mgrid[0:h, 0:w]
    pos = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    rgb = image.reshape(-1, 3).astype(np.float64)
    d_pos = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    d_rgb = ((rgb[:, None] - rgb[None]) ** 2).sum(-1)
    kernels = []
    for weight, k in ((p.spatial_compat, np.exp(-d_pos / (2 * p.spatial_sxy**2))),
                      (p.bilateral_compat, np.exp(-d_pos / (2 * p.bilateral_sxy**2)
                                                  - d_rgb / (2 * p.bilateral_srgb**2)))):
        norm = 1.0 / np.sqrt(k.sum(1))
        kernels.append((weight, norm[:, None] * k * norm[None, :]))
    labels = unary.shape[0]
    u = unary.reshape(labels, -1).astype(np.float64)
    potts = 1.0 - np.eye(labels)

    def normalise(energy):
        e = np.exp(-(energy - energy.min(0)))
        return e / e.sum(0)

    q = normalise(u)
    for _ in range(p.iterations):
        energy = u.copy()
        for weight, kn in kernels:
            energy += weight * potts @ (q @ kn.T)
        q = normalise(energy)
    return q.reshape(labels, h, w)


def _scene(h: int = 14, w: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A two-colour image with a noisy rectangle (uint8 (H, W, 3)) and its true labels."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), np.int64)
    truth[3:10, 2:8] = 1
    image = np.where(truth[..., None] == 1, [200, 60, 40], [30, 90, 160]).astype(np.float64)
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def test_spatial_kernel_is_the_exact_gaussian_when_it_covers_the_image():
    h, w, sxy = 6, 5, 1.5
    ys, xs = np.mgrid[0:h, 0:w]
    pos = np.stack([xs.ravel(), ys.ravel()], 1)
    k = np.exp(-((pos[:, None] - pos[None]) ** 2).sum(-1) / (2 * sxy**2))
    values = np.random.default_rng(0).random((2, h * w))
    ours = spatial_kernel(h, w, sxy, torch.device("cpu"))(torch.from_numpy(values).float())
    np.testing.assert_allclose(ours.numpy(), values @ k.T, rtol=1e-5, atol=1e-6)


def test_exact_mean_field_equals_the_brute_force_energy_minimiser():
    image, truth = _scene()
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(truth.shape) < 0.3, 1 - truth, truth)
    unary = label_unary(torch.from_numpy(noisy[None]), 2, PARAMS.gt_prob)
    ours = DenseCrf(image, PARAMS, bilateral="exact").infer(unary)[0].numpy()
    oracle = _brute_force(image, unary[0].numpy(), PARAMS)
    np.testing.assert_allclose(ours, oracle, atol=2e-5)


def test_lattice_mean_field_agrees_with_the_brute_force_and_removes_label_noise():
    image, truth = _scene(20, 18, seed=2)
    rng = np.random.default_rng(3)
    noisy = np.where(rng.random(truth.shape) < 0.25, 1 - truth, truth)
    unary = label_unary(torch.from_numpy(noisy[None]), 2, PARAMS.gt_prob)
    ours = DenseCrf(image, PARAMS).infer(unary)[0].numpy()
    oracle = _brute_force(image, unary[0].numpy(), PARAMS)
    assert np.abs(ours - oracle).mean() < 0.02
    assert (ours.argmax(0) == oracle.argmax(0)).mean() > 0.98
    assert (oracle.argmax(0) == truth).mean() > 0.97  # what the CRF is for
    assert (ours.argmax(0) == truth).mean() > 0.97


def test_refine_labels_solves_several_problems_at_once_like_one_at_a_time():
    image, truth = _scene(seed=4)
    three = np.stack([truth, 1 - truth, np.zeros_like(truth)]) * 2  # labels 0 and 2 of 3
    crf = DenseCrf(image, PARAMS)
    joint = crf.refine_labels(three, 3)
    for s in range(3):
        np.testing.assert_array_equal(joint[s], crf.refine_labels(three[s:s + 1], 3)[0])


def test_unaries_follow_pydensecrf():
    u = label_unary(torch.tensor([[[0, 2]]]), 3, 0.7)
    assert u.shape == (1, 3, 1, 2)
    np.testing.assert_allclose(u[0, :, 0, 0].numpy(),
                               [-math.log(0.7), -math.log(0.15), -math.log(0.15)], rtol=1e-6)
    np.testing.assert_allclose(u[0, 2, 0, 1].item(), -math.log(0.7), rtol=1e-6)
    p = torch.tensor([[[[0.25]], [[0.75]]]])
    np.testing.assert_allclose(prob_unary(p).flatten().numpy(), -np.log([0.25, 0.75]),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="gt_prob"):
        label_unary(torch.zeros(1, 2, 2, dtype=torch.long), 2, 1.0)
