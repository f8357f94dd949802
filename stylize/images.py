"""Reading and writing images: every format Pillow decodes in, sRGB RGB (+ alpha) out.

Reading applies EXIF orientation, converts embedded ICC profiles to sRGB, reduces 16-bit data
to 8 bit, keeps alpha aside, and keeps Pillow's decompression-bomb guard on. Writing is atomic
and never overwrites an input. Torch is imported only by the tensor converters.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import warnings
from dataclasses import dataclass, replace
from html import escape, unescape
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from stylize.errors import InputError, OutputError, UsageError
from stylize.files import atomic_path, same_file, sha256_file
from stylize.storage import StorePath, location, opened, source

if TYPE_CHECKING:
    import torch  # lazy: --help imports images, not numpy/torch

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default guard (~89.5 Mpx)
DEFAULT_QUALITY = 95

# extension -> Pillow format, and whether it stores alpha / EXIF
FORMATS: dict[str, tuple[str, bool, bool]] = {
    ".jpg": ("JPEG", False, True),
    ".jpeg": ("JPEG", False, True),
    ".png": ("PNG", True, True),
    ".webp": ("WEBP", True, True),
    ".tif": ("TIFF", True, False),
    ".tiff": ("TIFF", True, False),
    ".bmp": ("BMP", False, False),
}
IMAGE_EXTENSIONS = frozenset(FORMATS) | {".gif"}


@dataclass(frozen=True)
class Picture:
    """A decoded image: upright sRGB pixels, optional alpha, and metadata worth keeping."""

    rgb: Image.Image  # mode "RGB"
    alpha: Image.Image | None = None  # mode "L", same size as rgb, None when fully opaque
    path: Path | StorePath | None = None
    exif: bytes | None = None  # orientation already applied and reset
    had_icc: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size


# ---------------------------------------------------------------- reading


def open_image(path: str | os.PathLike[str] | StorePath, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode ``path`` (a file, or a URL: :mod:`stylize.storage`) fully into a :class:`Picture`; every
    failure is an :class:`InputError`."""
    path = location(path)
    img = _open_checked(path, max_pixels)
    try:
        img.load()
        return _to_picture(img, path)
    except OSError as exc:  # truncated data, broken chunks
        raise InputError(f"{path}: cannot decode image ({exc})", "the file is damaged or incomplete") from exc
    finally:
        img.close()


def _open_checked(path: Path | StorePath, max_pixels: int) -> Image.Image:
    if isinstance(path, StorePath):
        return _decode_header(path, source(path), max_pixels)  # read whole: the store says why it cannot
    try:
        path.stat()
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError:
        pass  # reported below, one case at a time
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if not path.is_file():  # opening a FIFO would block forever
        raise InputError(f"{path}: not a regular file (a FIFO, device or socket)", "give an image file")
    return _decode_header(path, path, max_pixels)


def _decode_header(path: Path | StorePath, data: Path | BinaryIO, max_pixels: int) -> Image.Image:
    """Pillow's open (the header) of ``data``, the bytes of ``path``, with the pixel limit checked."""
    if max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses at twice this; we check exactly below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(data)
    except Image.DecompressionBombError as exc:
        raise _too_big(path, None, max_pixels) from exc
    except UnidentifiedImageError as exc:
        empty = data.getbuffer().nbytes == 0 if isinstance(data, io.BytesIO) else Path(data).stat().st_size == 0
        raise InputError(f"{path}: {'empty file' if empty else 'not an image Pillow can decode'}") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if img.width * img.height > max_pixels:
        img.close()
        raise _too_big(path, img.size, max_pixels)
    return img


def _too_big(path: Path | StorePath, size: tuple[int, int] | None, max_pixels: int) -> InputError:
    dims = f"{size[0]}x{size[1]} " if size else ""
    return InputError(
        f"{path}: image {dims}is over the {max_pixels:,}-pixel limit",
        "raise it with --max-pixels if you trust this file",
    )


def _to_picture(img: Image.Image, path: Path | StorePath | None) -> Picture:
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)  # animated: first frame
    return from_pil(img, path)


def from_pil(img: Image.Image, path: Path | StorePath | None = None) -> Picture:
    """A PIL image (its current frame) as :func:`open_image` decodes its file: upright, 8-bit sRGB,
    alpha aside. ``img`` itself is left as it is."""
    img = ImageOps.exif_transpose(img) or img
    exif = _clean_exif(img)
    icc = img.info.get("icc_profile")
    img = _to_8bit(img)
    alpha = _split_alpha(img)
    rgb = _to_srgb(img, icc)
    return Picture(rgb=rgb, alpha=alpha, path=path, exif=exif, had_icc=bool(icc))


def _clean_exif(img: Image.Image) -> bytes | None:
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF must not stop a photo from loading
        return None
    if not exif:
        return None
    exif.pop(0x0112, None)  # orientation is applied to the pixels now
    return exif.tobytes()


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer and float modes -> 8-bit L, keeping the full tonal range."""
    if img.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return img
    import numpy as np  # lazy: --help imports images, not numpy/torch

    arr = np.asarray(img).astype(np.float64)
    scale = 1.0 if img.mode == "F" and arr.max(initial=0) <= 1.0 else 257.0
    if img.mode == "F" and scale == 1.0:
        arr = arr * 255.0
    else:
        arr = arr / scale
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def _split_alpha(img: Image.Image) -> Image.Image | None:
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if not has_alpha:
        return None
    alpha = img.convert("RGBA").getchannel("A")
    lo, _ = alpha.getextrema()
    return None if lo == 255 else alpha


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    converted = _apply_icc(img, icc) if icc else None
    if converted is not None:
        return converted
    return img if img.mode == "RGB" else img.convert("RGB")


def _apply_icc(img: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert through the embedded profile to sRGB; None if the profile is unusable."""
    cms = _cms()
    if cms is None:
        return None
    try:
        src = cms.ImageCmsProfile(io.BytesIO(icc))
        dst = cms.createProfile("sRGB")
        base = img.convert("RGB") if img.mode in ("P", "PA", "RGBA", "LA", "1") else img
        out = cms.profileToProfile(base, src, dst, outputMode="RGB")
        return out if out is not None else None
    except Exception:  # noqa: BLE001 - a broken profile: fall back to plain conversion
        return None


# ---------------------------------------------------------------- sizing


def resize_long_side(
    img: Image.Image, size: int, max_pixels: int = DEFAULT_MAX_PIXELS, upscale: bool = True
) -> Image.Image:
    """Scale so the long side is ``size`` px, keeping aspect ratio; 0 keeps the image as is.

    ``upscale=False`` makes ``size`` a cap: a smaller image is kept as it is (``--size`` without ``--upscale``).
    """
    if size <= 0 or max(img.size) == size or (not upscale and max(img.size) < size):
        return img
    return scale_by(img, size / max(img.size), max_pixels)


def scale_by(img: Image.Image, factor: float, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Both sides times ``factor`` (rounded, at least 1 px), as :func:`resize_to` resizes (``--style-scale``)."""
    w, h = img.size
    return resize_to(img, (max(1, round(w * factor)), max(1, round(h * factor))), max_pixels)


def resize_to(img: Image.Image, new: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """High-quality resize: Lanczos with a reducing gap when shrinking, bicubic when growing.

    A target over ``max_pixels`` is refused before anything is allocated (``--size 100000``)."""
    if img.size == new:
        return img
    if new[0] * new[1] > max_pixels:
        raise InputError(
            f"resizing to {new[0]}x{new[1]} is over the {max_pixels:,}-pixel limit",
            "lower --size/--style-size/--style-scale, or raise --max-pixels",
        )
    if new[0] < img.width:
        return img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img.resize(new, Image.Resampling.BICUBIC)


def resize_picture(pic: Picture, size: int, max_pixels: int = DEFAULT_MAX_PIXELS, upscale: bool = False) -> Picture:
    """Resize a picture (and its alpha) to a long side of ``size``, at most unless ``upscale``."""
    rgb = resize_long_side(pic.rgb, size, max_pixels, upscale)
    alpha = resize_to(pic.alpha, rgb.size) if pic.alpha is not None else None
    return replace(pic, rgb=rgb, alpha=alpha)


def center_crop_square(img: Image.Image, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Resize the short side to ``size`` then crop the centre square (``--crop``)."""
    w, h = img.size
    scale = size / min(w, h)
    img = resize_to(img, (max(size, round(w * scale)), max(size, round(h * scale))), max_pixels)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return img.crop((left, top, left + size, top + size))


# ---------------------------------------------------------------- tensors


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 tensor (1, 3, H, W) in [0, 1]."""
    import torch  # lazy: --help imports images, not torch

    rgb = img.convert("RGB")
    if not rgb.width or not rgb.height:  # frombuffer refuses an empty buffer
        return torch.zeros(1, 3, rgb.height, rgb.width)
    arr = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(rgb.height, rgb.width, 3)
    return arr.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor (3, H, W) or (1, 3, H, W) in [0, 1] -> RGB PIL image, clamped and rounded."""
    import torch  # lazy: --help imports images, not torch

    if t.dim() == 4:
        t = t[0]
    arr = t.detach().float().clamp(0.0, 1.0).mul(255.0).round_().to("cpu", dtype=torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).contiguous().numpy(), mode="RGB")


# ---------------------------------------------------------------- writing


def output_format(path: Path) -> tuple[str, bool, bool]:
    """(Pillow format, stores alpha, stores EXIF) for an output path's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"{path}: cannot write '{path.suffix or 'no extension'}' files", f"use one of {known}")
    return fmt


def check_output(path: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse to write over an input, or over an existing file without ``overwrite``."""
    for src in inputs:
        if same_file(path, src):
            raise OutputError(f"{path}: refusing to overwrite an input file", "choose another -o/--output")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists", "pass --overwrite to replace it")


class OutputExistsError(OutputError):
    """The output exists (or appeared while it was being written) and may not be replaced."""


def save_image(
    rgb: Image.Image,
    path: str | os.PathLike[str] | StorePath,
    *,
    alpha: Image.Image | None = None,
    quality: int = DEFAULT_QUALITY,
    exif: bytes | None = None,
    srgb_profile: bool = False,
    overwrite: bool = False,
    inputs: tuple[Path | StorePath, ...] = (),
    note: str | None = None,
) -> Path | StorePath:
    """Write ``rgb`` (+ alpha where the format has it) atomically; return the path written (a URL:
    uploaded in one piece, see :mod:`stylize.storage`).

    ``note``: text stored in the file's metadata (see :func:`read_note`), e.g. the job signature.
    """
    path = location(path)
    fmt, keeps_alpha, keeps_exif = output_format(path)
    check_output(path, overwrite, inputs)
    img = _attach_alpha(rgb, alpha) if keeps_alpha else rgb
    params = _save_params(fmt, quality, exif if keeps_exif else None, srgb_profile)
    if note is not None:
        params.update(_note_params(fmt, note))
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            img.save(tmp, format=fmt, **params)
            if note is not None and fmt == "BMP":  # no metadata in BMP: a hidden file beside it, before the rename
                if not overwrite and path.exists():
                    raise FileExistsError(path)  # keep the sidecar of the output another process wrote
                write_sidecar_note(path, tmp, note)
    except FileExistsError as exc:  # written by someone else since check_output
        raise OutputExistsError(
            f"{path}: appeared while this one was written", "pass --overwrite to replace it"
        ) from exc
    return path


NOTE_KEY = "stylize"  # PNG text chunk keyword, XMP attribute stylize:job
_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:stylize="https://pypi.org/project/stylize/" stylize:job="{}"/></rdf:RDF></x:xmpmeta>'
)


def _note_params(fmt: str, note: str) -> dict[str, object]:
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt(NOTE_KEY, note)
        return {"pnginfo": info}
    if fmt == "JPEG":
        return {"comment": note.encode()}
    if fmt == "WEBP":
        return {"xmp": _XMP.format(escape(note, quote=True)).encode()}
    if fmt == "TIFF":
        return {"description": note}
    return {}


def note_sidecar(path: Path) -> Path:
    """Where a note lives for a format without metadata (BMP; animated GIF/WebP videos): a hidden file."""
    return path.with_name(f".{path.name}.stylize")


SIDECAR_HASH = "sha256:"  # a sidecar's first line: the hash of the bytes its note belongs to


def write_sidecar_note(path: Path, written: Path, note: str) -> None:
    """Store ``note`` for ``path`` in its hidden sidecar, bound to the bytes of ``written`` (the file
    that is about to become ``path``): another program that replaces ``path`` leaves a sidecar that
    no longer holds (see :func:`read_sidecar_note`)."""
    with atomic_path(note_sidecar(path)) as tmp:
        tmp.write_text(f"{SIDECAR_HASH}{sha256_file(written)}\n{note}", encoding="utf-8")


def read_sidecar_note(path: Path) -> str | None:
    """The note in ``path``'s sidecar when it was written for ``path``'s current bytes; else None.

    Raises OSError or ValueError when there is no readable sidecar."""
    head, _, note = note_sidecar(path).read_text(encoding="utf-8").partition("\n")
    return note if head == SIDECAR_HASH + sha256_file(path) else None


def read_note(path: str | os.PathLike[str] | StorePath) -> str | None:
    """The ``note`` :func:`save_image` stored in ``path``; None when it has none or cannot be read."""
    path = location(path)
    try:
        if output_format(path)[0] == "BMP":
            return read_sidecar_note(path)
        with opened(path) as data, Image.open(data) as img:
            return _note_of(img)
    except (OSError, ValueError, UsageError, InputError, Image.DecompressionBombError):
        return None


def _note_of(img: Image.Image) -> str | None:
    if img.format == "PNG":
        return img.info.get(NOTE_KEY)
    if img.format == "JPEG":
        comment = img.info.get("comment")
        return comment.decode("utf-8", "replace") if isinstance(comment, bytes) else None
    if img.format == "WEBP":
        xmp = img.info.get("xmp", b"")
        found = re.search(rb'stylize:job="([^"]*)"', xmp if isinstance(xmp, bytes) else xmp.encode())
        return unescape(found.group(1).decode()) if found else None
    if img.format == "TIFF":
        description = img.tag_v2.get(270)  # type: ignore[attr-defined]
        return description if isinstance(description, str) else None
    return None


def save_picture(pic: Picture, path: str | os.PathLike[str], **kwargs: object) -> Path:
    """Save a :class:`Picture` with its alpha and EXIF."""
    kwargs.setdefault("alpha", pic.alpha)
    kwargs.setdefault("exif", pic.exif)
    kwargs.setdefault("srgb_profile", pic.had_icc)
    return save_image(pic.rgb, path, **kwargs)  # type: ignore[arg-type]


def _attach_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return rgb
    out = rgb.convert("RGBA")
    out.putalpha(resize_to(alpha, rgb.size))
    return out


def _save_params(fmt: str, quality: int, exif: bytes | None, srgb_profile: bool) -> dict[str, object]:
    params: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = quality
    if fmt == "JPEG":
        params["subsampling"] = 0 if quality >= 90 else 2
    if fmt == "PNG":
        params["compress_level"] = 4  # differs from Pillow's 6: 2-3x faster, files ~3% larger
    if exif:
        params["exif"] = exif
    if srgb_profile and _cms() is not None:
        params["icc_profile"] = _srgb_icc()
    return params


# The ICC header's creation time (bytes 24-35): lcms stamps the current time, which made the same
# job's output differ byte for byte from run to run; a fixed date keeps outputs reproducible.
ICC_DATE = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)


@functools.cache
def _cms() -> ModuleType | None:
    """Pillow's colour management, or None where Pillow was built without littlecms (an optional part)."""
    try:
        from PIL import ImageCms  # lazy: an optional part of Pillow, needed only for ICC profiles
    except ImportError:
        return None
    return ImageCms


@functools.cache
def _srgb_icc() -> bytes:
    cms = _cms()
    profile = cms.ImageCmsProfile(cms.createProfile("sRGB")).tobytes()
    return profile[:24] + ICC_DATE + profile[36:]
