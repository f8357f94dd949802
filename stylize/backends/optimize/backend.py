"""``stylize optimize`` as a method (optimise one image after another), intermediate images
(``--save-every``) and loss plots (``--plot``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, NamedTuple

import torch
from PIL import Image
from torch import Tensor

from stylize import images
from stylize.backends.objective import load_loss_net
from stylize.backends.optimize.model import OptimizeModel, StyleImage
from stylize.backends.stylizer import Batch, Method, MethodPlan, Stylized, check_blend
from stylize.batch import Job, SharedPictures, shared_picture
from stylize.config import OptimizeConfig
from stylize.devices import effective_precision
from stylize.plot import loss_series, save_loss_plot
from stylize.progress import NullReporter, Reporter
from stylize.provenance import weights_id


class Extra(NamedTuple):
    """What ``save_extra`` writes beside an output: its loss history (``--plot``)."""

    history: list[dict[str, float]]


def intermediate_path(output: Path, iteration: int) -> Path:
    """Where ``--save-every`` writes: ``out.png`` -> ``out.iter00100.png``."""
    return output.with_name(f"{output.stem}.iter{iteration:05d}{output.suffix}")


def plot_path(output: Path) -> Path:
    """Where ``--plot`` writes: ``out.jpg`` -> ``out.loss.png``."""
    return output.with_name(f"{output.stem}.loss.png")


@dataclass
class OptimizeMethod(Method):
    """Gatys et al. optimisation as a :class:`~stylize.backends.stylizer.Method`: one image after
    another, style targets cached per scale by the model."""

    name: ClassVar[str] = "optimize"
    batchable: ClassVar[bool] = False  # every image is optimised alone
    make_model: Callable[[], OptimizeModel]  # built on first use, so a fully resumed batch loads nothing
    config: OptimizeConfig
    styles: dict[str, Path]  # style tag -> file
    blended: bool = False  # one output per content blending every style (tag is the combined tag)
    max_pixels: int = images.DEFAULT_MAX_PIXELS
    quality: int = 95  # of --save-every's intermediate images
    reporter: Reporter = field(default_factory=NullReporter)
    pictures: SharedPictures = field(default_factory=dict)  # styles the api already decoded

    @cached_property
    def model(self) -> OptimizeModel:
        return self.make_model()

    def prepare(self, picture: images.Picture, size: int | None = None) -> images.Picture:
        size = self.config.size if size is None else size
        return images.resize_picture(picture, size, self.max_pixels, self.config.upscale)

    def load(self, tags: Sequence[str]) -> None:
        self.model  # noqa: B018 - load weights now

    def style_state(self, tag: str, reference: Tensor | None) -> list[StyleImage]:
        """The style pictures of one output, with their weights (every style when blending)."""
        tags = list(self.styles) if self.blended else [tag]
        weights = self.config.blend or [1.0] * len(tags)
        return [StyleImage(self._picture(t), w) for t, w in zip(tags, weights)]

    def _picture(self, tag: str) -> Image.Image:
        return shared_picture(self.pictures, self.styles[tag], self.max_pixels, "style")

    def run(self, batch: Batch, state: list[StyleImage]) -> Stylized:
        (job,), (item,) = batch.jobs, batch.items
        on_image = self._saver(job) if job is not None and self.config.save_every and not job.input.video else None
        result = self.model.stylize(
            item.picture.rgb,
            state,
            seed=self.config.seed,
            style_key=item.style,
            reporter=self.reporter,
            task=f"optimize {job.input.path.name}" if job is not None else "optimize",
            on_image=on_image,
        )
        return Stylized(result.image, [Extra(result.history)])

    def _saver(self, job: Job) -> Callable[[int, Tensor], None]:
        every = self.config.save_every
        where = intermediate_path(job.output, 0).name.replace("00000", "N" * 5)
        self.reporter.log(
            f"{job.input.path.name}: an intermediate image every {every} iterations: {job.output.parent / where}"
        )

        def save(iteration: int, image: Tensor) -> None:
            if iteration % every == 0:
                images.save_image(
                    images.to_pil(image.float().cpu()),
                    intermediate_path(job.output, iteration),
                    quality=self.quality,
                    overwrite=True,
                    inputs=(job.input.path,),
                )

        return save

    # I/O thread
    def save_extra(self, job: Job, extra: Extra) -> None:
        if self.config.plot and extra.history:
            save_plot(extra.history, plot_path(job.output), title=job.output.name)


def save_plot(history: Sequence[Mapping[str, float]], path: Path, title: str | None = None) -> Path:
    """Loss curves (total and each term) against the iteration, log scale."""
    series = loss_series(history, ("loss", "content", "style", "tv"))
    return save_loss_plot(series, path, log_y=True, title=title)


# ---------------------------------------------------------------- planning a run (stylize.api.stylize)


def plan(config: OptimizeConfig, styles: dict[str, Path]) -> MethodPlan:
    """Style pictures every job reads (all of them, weighted, when blending); the VGG by hash."""
    check_blend(config.blend, styles)
    files = tuple(styles.values())
    return MethodPlan(styles, bool(config.blend), files, files, {"vgg": weights_id(config.vgg)})


def build(
    config: OptimizeConfig,
    run: MethodPlan,
    device: torch.device,
    max_pixels: int,
    reporter: Reporter,
    pictures: SharedPictures,
    quality: int = 95,
) -> OptimizeMethod:
    """The method for one run; fp16 on a CPU stops here, before any work; the VGG loads on first use."""
    effective_precision(config.precision, device)
    layers = [*config.content_layers, *config.style_layers]

    def make_model() -> OptimizeModel:
        return OptimizeModel(load_loss_net(config.vgg, layers, config.pooling, device, reporter), config, device)

    return OptimizeMethod(make_model, config, run.styles, run.blended, max_pixels, quality, reporter, pictures)
