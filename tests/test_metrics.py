"""The eval numbers no method optimises: Lab patch distance and relu3_1 structure distance."""

from __future__ import annotations

import torch

from stylize import metrics


def _noise(seed: int, size: int = 40) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_lab_of_known_colours() -> None:
    white, black = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(metrics.rgb_to_lab(white).flatten(), torch.tensor([100.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(metrics.rgb_to_lab(black).flatten(), torch.zeros(3), atol=1e-3)
    assert torch.allclose(metrics.rgb_to_lab(red).flatten(), torch.tensor([53.24, 80.09, 67.20]), atol=0.1)


def test_patch_distance_is_zero_for_the_same_picture_and_grows_with_change() -> None:
    a = _noise(0)
    assert metrics.patch_swd(a, a) == 0.0
    near, far = metrics.patch_swd(a, (a * 0.9 + 0.05)), metrics.patch_swd(a, a * 0.3)
    assert 0.0 < near < far


def test_patch_distance_sees_marks_that_share_the_palette() -> None:
    """Same pixel values, other arrangement: a histogram would call them equal, patches do not."""
    stripes = torch.zeros(1, 3, 32, 32)
    stripes[..., ::2, :] = 1.0
    halves = torch.zeros(1, 3, 32, 32)
    halves[..., :16, :] = 1.0
    assert metrics.patch_swd(stripes, halves) > 10.0


def test_patch_distance_is_deterministic_and_size_free() -> None:
    a, b = _noise(1, 64), _noise(2, 48)
    assert metrics.patch_swd(a, b) == metrics.patch_swd(a, b)
    assert metrics.patch_swd(a, b) < 5.0  # two uniform noises: nearly the same distribution


def test_structure_distance_ignores_colour_but_not_layout() -> None:
    feat = torch.rand(1, 16, 24, 24, generator=torch.Generator().manual_seed(3))
    assert metrics.structure_distance(feat, feat) == 0.0
    scaled = feat * 2.0 + 0.0  # cosine similarity ignores a uniform gain
    assert metrics.structure_distance(scaled, feat) < 1e-5
    shuffled = feat.flatten(2)[..., torch.randperm(24 * 24, generator=torch.Generator().manual_seed(4))]
    assert metrics.structure_distance(shuffled.view_as(feat), feat) > 0.05


def test_structure_pools_large_maps() -> None:
    feat = torch.rand(1, 8, 100, 70)
    assert metrics.self_similarity(feat).shape[0] <= metrics.SIM_SIDE * metrics.SIM_SIDE


def test_pictures_thinner_than_a_patch_are_scored() -> None:
    line = torch.rand(1, 3, 1, 40, generator=torch.Generator().manual_seed(3))
    assert metrics.lab_patches(line, torch.Generator()).shape == (38, 3 * metrics.PATCH**2)
    assert metrics.patch_swd(line, line) == 0.0
    assert metrics.patch_swd(line, torch.zeros(1, 3, 2, 2)) > 0.0
