"""Every method keeps the shared contract (method_contract.py) with tiny random components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from method_contract import MethodContract
from PIL import Image

import stylize
from stylize.models.transformer_net import TransformerNet


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Tiny images gain nothing from threads, and lose a lot to them on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("fake_adain_weights")
class TestAdaIN(MethodContract):
    command = "adain"
    masks = True

    def style_args(self, styles: list[Path]) -> list[str]:
        return ["--style-size", "48", *(arg for s in styles for arg in ("-s", str(s)))]

    def picture(self, content: Path, styles: list[Path], **options: Any) -> Image.Image:
        return stylize.Stylizer(device="cpu").adain(content, [str(s) for s in styles], style_size=48, **options)


class TestFast(MethodContract):
    command = "fast"

    @pytest.fixture
    def styles(self, tmp_path: Path) -> list[Path]:
        """Two random networks (default init, last conv amplified so the output spreads over 0-255):
        the 'styles' of a fast run are its models."""
        paths = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            state = TransformerNet().state_dict()
            state["deconv3.conv2d.weight"] *= 300
            paths.append(tmp_path / "models" / f"m{seed + 1}.pth")
            paths[-1].parent.mkdir(exist_ok=True)
            torch.save(state, paths[-1])
        return paths

    def style_args(self, styles: list[Path]) -> list[str]:
        return [arg for s in styles for arg in ("-m", str(s))]

    def picture(self, content: Path, styles: list[Path], **options: Any) -> Image.Image:
        return stylize.Stylizer(device="cpu").fast(content, str(styles[0]), **options)


@pytest.mark.usefixtures("bundled_vgg")
class TestOptimize(MethodContract):
    command = "optimize"
    size = 40
    pixel_setting = ("--size", "36")

    def style_args(self, styles: list[Path]) -> list[str]:
        return [
            "--min-size",
            "32",
            "--iterations",
            "1",
            "--init",
            "noise",
            "--seed",
            "0",
            *(arg for s in styles for arg in ("-s", str(s))),
        ]

    def picture(self, content: Path, styles: list[Path], **options: Any) -> Image.Image:
        config = {"min_size": 32, "iterations": 1, "init": "noise", "seed": 0, **options}
        return stylize.Stylizer(device="cpu").optimize(content, [str(s) for s in styles], **config)
