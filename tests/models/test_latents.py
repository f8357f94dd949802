"""Latents from seeds (stylize.models.latents): per-seed draws and spherical interpolation."""

from __future__ import annotations

import torch

from stylize.models.latents import seed_inputs, slerp


def test_seed_inputs_depend_only_on_the_seed() -> None:
    alone = seed_inputs([5], 8, 10, [(1, 4, 4)])
    among = seed_inputs([1, 5, 9], 8, 10, [(1, 4, 4)])
    assert torch.equal(alone.z[0], among.z[1]) and torch.equal(alone.classes[0], among.classes[1])
    assert torch.equal(alone.noise[0][0], among.noise[0][1])
    plain = seed_inputs([5], 8, 10)  # z and class do not change when noise is drawn too
    assert torch.equal(plain.z, alone.z) and torch.equal(plain.classes, alone.classes)


def test_slerp_endpoints_and_norm() -> None:
    a, b = torch.randn(64), torch.randn(64)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5)
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 0.25 * a.norm()  # stays on the shell, unlike lerp
