"""stylize.video.temporal: flow, warping, occlusion, the stabiliser and the warping error."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from clips import scene, texture

from stylize.video import temporal


def test_zero_flow_warps_to_the_same_image() -> None:
    img = texture(40, 30)
    assert np.array_equal(temporal.warp(img, np.zeros((30, 40, 2), np.float32)), img)


def test_flow_of_a_pan_is_the_shift_and_warping_undoes_it() -> None:
    prev, cur = scene(96, 64, 0, speed=3), scene(96, 64, 1, speed=3)
    field = temporal.FlowEstimator()(cur, prev)
    inside = field.flow[20:40, 20:70, 0]  # the background moved 3 px left: each pixel came from x + 3
    assert np.median(inside) == pytest.approx(3.0, abs=0.3)
    warped = temporal.warp(prev, field.flow)
    assert np.abs(warped.astype(int) - cur)[~field.occluded].mean() < np.abs(prev.astype(int) - cur).mean() / 3


def test_pixels_that_come_from_outside_the_frame_are_occluded() -> None:
    prev, cur = scene(96, 64, 0, speed=4), scene(96, 64, 1, speed=4)
    field = temporal.FlowEstimator()(cur, prev)
    assert field.occluded[:, -2:].mean() > 0.9  # the right edge came in from outside
    assert field.occluded[:, 10:80].mean() < 0.2


def test_flow_is_computed_small_and_upscaled() -> None:
    prev, cur = scene(640, 360, 0, speed=4), scene(640, 360, 1, speed=4)
    field = temporal.FlowEstimator(side=160)(cur, prev)
    assert field.flow.shape == (360, 640, 2) and field.occluded.shape == (360, 640)
    assert np.median(field.flow[100:250, 100:500, 0]) == pytest.approx(4.0, abs=0.6)


def test_stabiliser_strength_zero_and_the_first_frame_pass_through() -> None:
    content, styled = scene(48, 32, 0), texture(48, 32, seed=5)
    assert np.array_equal(temporal.Stabilizer(0.0)(content, styled), styled)
    assert np.array_equal(temporal.Stabilizer(0.9)(content, styled), styled)


def test_stabiliser_blends_the_previous_output_on_a_static_scene() -> None:
    content = scene(48, 32, 0, static=True)
    first, second = np.full((32, 48, 3), 100, np.uint8), np.full((32, 48, 3), 200, np.uint8)
    stab = temporal.Stabilizer(0.5)
    stab(content, first)
    assert np.abs(stab(content, second).astype(int) - 150).max() <= 1


def test_a_scene_cut_resets_the_stabiliser() -> None:
    stab = temporal.Stabilizer(0.9)
    stab(scene(48, 32, 0), np.zeros((32, 48, 3), np.uint8))
    other = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)  # nothing in common
    styled = np.full((32, 48, 3), 255, np.uint8)
    assert np.array_equal(stab(other, styled), styled) and stab.cuts == 1


def test_warping_error_is_zero_for_identical_frames_and_grows_with_flicker() -> None:
    flow = temporal.FlowEstimator()
    a, b = scene(64, 48, 0), scene(64, 48, 1)
    error, share = temporal.warping_error((a, a), (a, a), flow)
    assert error == 0.0 and share == 1.0
    steady, _ = temporal.warping_error((a, b), (a, b), flow)
    noisy = np.clip(b.astype(int) + np.random.default_rng(1).integers(-40, 40, b.shape), 0, 255).astype(np.uint8)
    flicker, _ = temporal.warping_error((a, b), (a, noisy), flow)
    assert steady < 0.005 < flicker
