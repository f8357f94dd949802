"""Style statistics and losses (stylize.losses), checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from stylize import losses, ops


def _feat(values: list[list[float]]) -> torch.Tensor:
    """(C, N) values -> (1, C, 1, N) feature map."""
    return torch.tensor(values, dtype=torch.float64).unsqueeze(0).unsqueeze(2)


def test_gram_normalisation_by_hand() -> None:
    f = _feat([[1.0, 2.0], [3.0, 4.0]])  # C=2, H=1, W=2
    m = losses.moments(f)
    assert torch.allclose(m.srm, torch.tensor([[2.5, 5.5], [5.5, 12.5]], dtype=torch.float64))  # F F^T / (H W)
    assert torch.allclose(m.mean, torch.tensor([1.5, 3.5], dtype=torch.float64))
    expected_gram = torch.tensor([[1.25, 2.75], [2.75, 6.25]], dtype=torch.float64)  # F F^T / (C H W)
    assert torch.allclose(ops.gram(f)[0], expected_gram)
    assert torch.allclose(m.srm / m.srm.shape[0], expected_gram)  # the Gram matrix, from the moments


def test_gram_loss_is_relative_squared_error() -> None:
    m, t = losses.moments(_feat([[1.0, 2.0], [3.0, 4.0]])), losses.moments(_feat([[1.0, 1.0], [1.0, 1.0]]))
    # target srm is all ones; differences 1.5, 4.5, 4.5, 11.5 -> squares sum 245, target norm 4
    assert float(losses.gram_loss(m, t)) == pytest.approx((1.5**2 + 2 * 4.5**2 + 11.5**2) / 4)
    assert float(losses.gram_loss(t, t)) == 0.0


def test_second_moment_backward_matches_autograd() -> None:
    flat = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(losses._SecondMoment.apply, (flat,))
    weights = torch.randn(3, 3, dtype=torch.float64)
    (losses._SecondMoment.apply(flat) * weights).sum().backward()
    ours = flat.grad.clone()
    flat.grad = None
    ((flat.t() @ flat / 7) * weights).sum().backward()
    assert torch.allclose(ours, flat.grad)


def _gaussian(mean: list[float], cov: torch.Tensor) -> losses.Moments:
    mu = torch.tensor(mean, dtype=torch.float64)
    return losses.Moments(mu, cov.double() + torch.outer(mu, mu))


def test_w2_between_diagonal_gaussians() -> None:
    a = _gaussian([1.0, 0.0], torch.diag(torch.tensor([4.0, 9.0])))
    b = _gaussian([0.0, 2.0], torch.diag(torch.tensor([1.0, 1.0])))
    # |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2 = (1 + 4) + ((2-1)^2 + (3-1)^2) = 10
    assert float(losses.w2_distance_sq(a.mean, a.cov, losses.W2Target.of(b))) == pytest.approx(10.0, abs=1e-6)
    # relative: divided by E_b|f|^2 = |mu_b|^2 + tr cov_b = 4 + 2
    assert float(losses.w2_loss(a, losses.W2Target.of(b))) == pytest.approx(10.0 / 6.0, abs=1e-6)


def test_w2_between_rotated_gaussians_and_zero_at_target() -> None:
    angle = 0.3
    r = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    a = _gaussian([0.0, 0.0], r @ torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64)) @ r.t())
    b = _gaussian([0.0, 0.0], r @ torch.diag(torch.tensor([1.0, 0.25], dtype=torch.float64)) @ r.t())
    # commuting covariances: sum over eigenvalues of (sqrt(a) - sqrt(b))^2 = 1 + 0.25
    assert float(losses.w2_distance_sq(a.mean, a.cov, losses.W2Target.of(b))) == pytest.approx(1.25, abs=1e-6)
    assert float(losses.w2_distance_sq(b.mean, b.cov, losses.W2Target.of(b))) == pytest.approx(0.0, abs=1e-6)


def test_meanstd_loss_by_hand() -> None:
    a = _gaussian([1.0, 0.0], torch.diag(torch.tensor([4.0, 9.0])))
    b = _gaussian([0.0, 2.0], torch.diag(torch.tensor([1.0, 1.0])))
    assert float(losses.meanstd_loss(a, b)) == pytest.approx((1 + 4 + 1 + 4) / 6.0, rel=1e-4)


def test_content_loss_and_tv_by_hand() -> None:
    f, t = _feat([[1.0, 2.0]]), _feat([[1.0, 4.0]])
    assert float(losses.content_loss(f, t)) == pytest.approx(4.0 / 17.0)
    img = torch.tensor([[[[0.0, 1.0], [0.0, 3.0]]]])  # dy: 0, 2 ; dx: 1, 3
    assert float(ops.tv_loss(img)) == pytest.approx((0 + 4) / 2 + (1 + 9) / 2)


def test_w2_from_features_takes_the_small_side() -> None:
    torch.manual_seed(3)
    target = losses.W2Target.of(losses.moments(torch.rand(1, 8, 4, 4, dtype=torch.float64)))
    feat = torch.rand(1, 8, 1, 5, dtype=torch.float64)  # N = 5 positions < C = 8 channels
    m, flat = losses.moments(feat), losses.positions(feat)
    assert float(losses.w2_distance_sq(m.mean, m.cov, target, flat)) == pytest.approx(
        float(losses.w2_distance_sq(m.mean, m.cov, target)), abs=1e-6
    )
