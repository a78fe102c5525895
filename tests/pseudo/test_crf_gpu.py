"""The dense CRF on CUDA gives the CPU's marginals. Skipped without a GPU (``pytest -m gpu``)."""

import numpy as np
import pytest
import torch

from wsol.pseudo.crf import CrfParams, DenseCrf, label_unary

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_lattice_crf_on_cuda_matches_the_cpu():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)
    labels = torch.from_numpy(rng.integers(0, 3, (2, 48, 40)))
    unary = label_unary(labels, 3, 0.7)
    cpu = DenseCrf(image, CrfParams()).infer(unary)
    gpu = DenseCrf(image, CrfParams(), device="cuda").infer(unary.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
