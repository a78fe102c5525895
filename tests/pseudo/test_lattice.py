"""The permutohedral lattice against the exact O(N^2) Gaussian filter."""

import numpy as np
import pytest
import torch

from wsol.pseudo.lattice import PermutohedralLattice


def _exact(features: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_j exp(-|f_i - f_j|^2 / 2) v_j in float64, by the full N x N matrix."""
    sq = ((features[:, None, :] - features[None, :, :]) ** 2).sum(-1)
    return values @ np.exp(-0.5 * sq).T


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_normalised_filter_matches_the_exact_gaussian(d):
    """Normalised by the filtered ones (as the CRF uses it), the lattice's blur agrees with
    the exact Gaussian to about 1 % where points are dense (a few per unit cube: the CRF's
    case); unnormalised it is a scaled version of it. (Sparse points, several standard
    deviations apart, are approximated far more coarsely: that is the lattice's price.)"""
    rng = np.random.default_rng(d)
    features = rng.uniform(0, 2, size=(300, d))
    values = rng.uniform(0.1, 1.0, size=(3, 300))
    lattice = PermutohedralLattice(torch.from_numpy(features))
    ours = lattice.filter(torch.from_numpy(values)).double().numpy()
    ones = lattice.filter(torch.ones(1, 300)).double().numpy()
    exact = _exact(features, values)
    exact_ones = _exact(features, np.ones((1, 300)))
    rel = np.abs(ours / ones - exact / exact_ones) / (exact / exact_ones)
    assert rel.mean() < 0.01 and rel.max() < 0.05
    # unnormalised: strongly correlated with the exact filter
    assert np.corrcoef(ours.ravel(), exact.ravel())[0, 1] > 0.95


def test_far_apart_clusters_do_not_mix():
    """Values in one cluster give exactly zero in a cluster 100 standard deviations away,
    as the truncated-to-nothing Gaussian would."""
    rng = np.random.default_rng(1)
    near = rng.uniform(0, 2, size=(30, 3))
    features = torch.from_numpy(np.concatenate([near, near + 100.0]))
    values = torch.cat([torch.rand(2, 30) + 0.1, torch.zeros(2, 30)], 1)
    out = PermutohedralLattice(features).filter(values)
    assert (out[:, :30] > 0).all()
    assert torch.equal(out[:, 30:], torch.zeros(2, 30))


def test_groups_filter_like_separate_lattices():
    """Two images in one lattice (by group) give exactly what each gives alone, even when
    their features coincide."""
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.uniform(0, 3, size=(50, 3)))
    b = torch.from_numpy(rng.uniform(0, 3, size=(40, 3)))
    b[:10] = a[:10]  # identical features in the other group must still not mix
    va, vb = torch.rand(2, 50), torch.rand(2, 40)
    joint = PermutohedralLattice(torch.cat([a, b]), torch.tensor([0] * 50 + [1] * 40))
    out = joint.filter(torch.cat([va, vb], 1))
    torch.testing.assert_close(out[:, :50], PermutohedralLattice(a).filter(va))
    torch.testing.assert_close(out[:, 50:], PermutohedralLattice(b).filter(vb))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="features"):
        PermutohedralLattice(torch.zeros(5))
    with pytest.raises(ValueError, match="values"):
        PermutohedralLattice(torch.zeros(5, 2)).filter(torch.zeros(1, 4))
