"""``stylize optimize`` over a batch: the ``BatchBackend`` (decode, optimise one image after another,
save), intermediate images (``--save-every``) and loss plots (``--plot``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from PIL import Image
from torch import Tensor

from stylize import images
from stylize.backends.gatys.model import GatysModel, StyleImage
from stylize.batch import BatchOptions, Job, SharedPictures, load_picture, save_result_image, shared_picture
from stylize.config import OptimizeConfig
from stylize.plot import loss_series, save_loss_plot
from stylize.progress import NullReporter, Reporter


@dataclass
class Loaded:
    """A decoded content picture at output size."""

    picture: images.Picture
    style: str


class Output(NamedTuple):
    """What ``save`` writes: the image, the picture it came from, the loss history (a video takes
    ``[0]``, the image, as from every backend)."""

    image: Tensor
    picture: images.Picture
    history: list[dict[str, float]]


def intermediate_path(output: Path, iteration: int) -> Path:
    """Where ``--save-every`` writes: ``out.png`` -> ``out.iter00100.png``."""
    return output.with_name(f"{output.stem}.iter{iteration:05d}{output.suffix}")


def plot_path(output: Path) -> Path:
    """Where ``--plot`` writes: ``out.jpg`` -> ``out.loss.png``."""
    return output.with_name(f"{output.stem}.loss.png")


@dataclass
class GatysBackend:
    """Runs the optimisation over a batch, one image after another; style targets cached per scale."""

    make_model: Callable[[], GatysModel]  # built on first use, so a fully resumed batch loads nothing
    config: OptimizeConfig
    options: BatchOptions
    styles: dict[str, Path]  # style tag -> file
    blended: bool = False  # one output per content blending every style (tag is the combined tag)
    reporter: Reporter = field(default_factory=NullReporter)
    pictures: SharedPictures = field(default_factory=dict)  # styles the api already decoded

    @cached_property
    def model(self) -> GatysModel:
        return self.make_model()

    # I/O thread
    def load(self, job: Job) -> Loaded:
        return self.prepare(load_picture(job, self.options), job.style)

    def prepare(self, picture: images.Picture, style: str, size: int | None = None) -> Loaded:
        """A decoded picture (an image, or a video frame) at output size; ``size`` overrides --size."""
        size = self.config.size if size is None else size
        return Loaded(images.resize_picture(picture, size, self.options.max_pixels, self.config.upscale), style)

    def group_key(self, loaded: Loaded) -> Hashable:
        return id(loaded)  # every image is optimised alone

    # main thread
    def process(self, jobs: list[Job], loaded: list[Loaded]) -> list[Output]:
        return [self._one(job, item) for job, item in zip(jobs, loaded)]

    def _one(self, job: Job, item: Loaded) -> Output:
        styles = self._style_images(item.style)
        on_image = self._saver(job) if self.config.save_every and not job.input.video else None
        result = self.model.stylize(
            item.picture.rgb,
            styles,
            seed=self.config.seed,
            style_key=item.style,
            reporter=self.reporter,
            task=f"optimize {job.input.path.name}",
            on_image=on_image,
        )
        return Output(result.image, item.picture, result.history)

    def _style_images(self, tag: str) -> list[StyleImage]:
        tags = list(self.styles) if self.blended else [tag]
        weights = self.config.style_weights or [1.0] * len(tags)
        return [StyleImage(self._picture(t), w) for t, w in zip(tags, weights)]

    def _picture(self, tag: str) -> Image.Image:
        return shared_picture(self.pictures, self.styles[tag], self.options.max_pixels, "style")

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
                    quality=self.options.quality,
                    overwrite=True,
                    inputs=(job.input.path,),
                )

        return save

    # I/O thread
    def save(self, job: Job, result: Output) -> None:
        pic = result.picture
        save_result_image(job, images.to_pil(result.image), pic.alpha, pic.exif, self.options, srgb_profile=pic.had_icc)
        if self.config.plot and result.history:
            save_plot(result.history, plot_path(job.output), title=job.output.name)


def save_plot(history: Sequence[Mapping[str, float]], path: Path, title: str | None = None) -> Path:
    """Loss curves (total and each term) against the iteration, log scale."""
    series = loss_series(history, ("loss", "content", "style", "tv"))
    return save_loss_plot(series, path, log_y=True, title=title)
