"""Images from seeds: a loaded generator run in batches, with truncation, style mixing and
interpolation.

Truncation pulls latents towards the average (w for the style-based model, z = 0 for the others);
style mixing takes seed A's styles before layer K and seed B's from K on; interpolation is
spherical between Gaussian latents (``models/latents.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from stylize.backends.gan.generator import Generator
from stylize.devices import autocast, effective_precision
from stylize.errors import UsageError
from stylize.models.latents import SeedInputs, lerp_exact, seed_inputs, slerp


class Sampler:
    """Images from seeds in batches on ``device``; results are float (N, C, H, W) in [0, 1] on the CPU."""

    def __init__(
        self,
        model: Generator,
        device: torch.device,
        precision: str = "fp32",
        batch_size: int = 64,
        noise: str = "const",
    ) -> None:
        self.model, self.device, self.batch_size, self.noise = model.to(device), device, batch_size, noise
        self.precision = effective_precision(precision, device, auto_bf16="never")
        self.info = model.info

    # -- inputs

    def class_index(self, label: str | int | None) -> int | None:
        """A class given by index or (case-insensitive) name; None keeps the seed's class."""
        if label is None:
            return None
        info = self.info
        if not info.num_classes:
            raise UsageError(f"--class given, but {info.name or 'this model'} is not class-conditional")
        text = str(label).strip()
        if text.isdigit() and int(text) < info.num_classes:
            return int(text)
        lowered = [c.lower() for c in info.class_names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        listing = ", ".join(f"{i}={c}" for i, c in enumerate(info.class_names))
        raise UsageError(f"unknown class '{text}'", f"classes: {listing}")

    def inputs(self, seeds: Sequence[int], class_index: int | None = None) -> SeedInputs:
        shapes = self.model.noise_shapes() if self.noise == "seed" else ()
        drawn = seed_inputs(seeds, self.info.latent_dim, self.info.num_classes, shapes)
        if drawn.classes is not None and class_index is not None:
            drawn.classes.fill_(class_index)
        return drawn

    def one_hot(self, classes: Tensor | None) -> Tensor | None:
        return None if classes is None else F.one_hot(classes, self.info.num_classes).float()

    # -- generation

    def images(
        self,
        seeds: Sequence[int],
        psi: float = 1.0,
        class_index: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> Tensor:
        """One image per seed."""
        drawn = self.inputs(list(seeds), class_index)
        return self.render(drawn.z, self.one_hot(drawn.classes), drawn.noise, psi, on_batch)

    def render(
        self,
        z: Tensor,
        labels: Tensor | None,
        noise: list[Tensor] | None,
        psi: float = 1.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> Tensor:
        """Images for given inputs (CPU tensors), in batches of ``batch_size``."""
        out = []
        for start in range(0, len(z), self.batch_size):
            part = slice(start, start + self.batch_size)
            args = (self._dev(z[part]), self._dev(labels, part), psi, self._mode(noise), self._dev_list(noise, part))
            out.append(self._run(lambda args=args: self.model(*args)))
            if on_batch:
                on_batch(len(out[-1]))
        return torch.cat(out) if out else torch.empty(0, self.info.channels, self.info.image_size, self.info.image_size)

    def mix(self, seed_a: int, seed_b: int, layer: int, psi: float = 1.0, class_index: int | None = None) -> Tensor:
        """(3, C, H, W): seed A, seed B, and A's styles for layers < ``layer`` with B's from ``layer`` on."""
        info = self.info
        if not info.style_based:
            raise UsageError(f"--style-mix needs a style-based model; {info.name or 'this one'} is {info.kind}")
        if not 0 <= layer <= info.num_ws:
            raise UsageError(f"--mix-layer must be between 0 and {info.num_ws} for this model, not {layer}")
        drawn = self.inputs([seed_a, seed_b], class_index)
        labels, noise = self._dev(self.one_hot(drawn.classes)), self._dev_list(drawn.noise, slice(0, 1))

        def run() -> Tensor:
            ws = self.model.styles(self._dev(drawn.z), labels, psi)  # (2, num_ws, w_dim)
            mixed = torch.cat([ws[:1, :layer], ws[1:, layer:]], dim=1)
            plain = self.model.synthesis(ws, self._mode(drawn.noise), self._dev_list(drawn.noise, slice(0, 2)))
            return torch.cat([plain, self.model.synthesis(mixed, self._mode(drawn.noise), noise)])

        return self._run(run)

    def interpolate(self, seeds: Sequence[int], steps: int, psi: float = 1.0, class_index: int | None = None) -> Tensor:
        """Frames from each seed to the next: ``steps`` per pair, plus the last seed: (n, C, H, W)."""
        if len(seeds) < 2 or steps < 1:
            raise UsageError("--interpolate needs at least two seeds and one step")
        drawn = self.inputs(list(seeds), class_index)
        labels = self.one_hot(drawn.classes)
        zs, ls, ns = [], [], []
        for k in range(len(seeds) - 1):
            for step in range(steps + (1 if k == len(seeds) - 2 else 0)):
                t = step / steps
                zs.append(slerp(drawn.z[k], drawn.z[k + 1], t))
                if labels is not None:
                    ls.append(torch.lerp(labels[k], labels[k + 1], t) if 0 < t < 1 else labels[k + int(t)])
                if drawn.noise is not None:
                    ns.append([lerp_exact(n[k], n[k + 1], t) for n in drawn.noise])
        noise = [torch.stack([frame[i] for frame in ns]) for i in range(len(drawn.noise))] if ns else None
        return self.render(torch.stack(zs), torch.stack(ls) if ls else None, noise, psi)

    # -- helpers

    def _mode(self, noise: list[Tensor] | None) -> str:
        return "given" if noise is not None else ("none" if self.noise == "none" else "const")

    def _dev(self, t: Tensor | None, part: slice | None = None) -> Tensor | None:
        if t is None:
            return None
        return (t[part] if part is not None else t).to(self.device)

    def _dev_list(self, ts: list[Tensor] | None, part: slice) -> list[Tensor] | None:
        return None if ts is None else [t[part].to(self.device) for t in ts]

    def _run(self, fn: Callable[[], Tensor]) -> Tensor:
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = fn()
        return out.float().clamp(-1.0, 1.0).add(1.0).mul(0.5).cpu()  # [-1, 1] -> [0, 1]
