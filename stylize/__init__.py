"""stylize: artistic image stylization (Gatys, Johnson, AdaIN, GANs) for the command line and Python.

Importing this package is light: torch loads only when a method runs. The picture API
(``stylize.adain``, ``stylize.fast``, ``stylize.optimize``, ``stylize.gan_sample``,
``stylize.Stylizer``) lives in :mod:`stylize.image_api` and is loaded on first use.
"""

from __future__ import annotations

from typing import Any

from stylize._version import __version__

_PICTURE_API = ("Stylizer", "adain", "fast", "optimize", "gan_sample")
__all__ = ["Stylizer", "__version__", "adain", "fast", "gan_sample", "optimize"]


def __getattr__(name: str) -> Any:
    if name in _PICTURE_API:
        from stylize import image_api  # lazy: the picture API loads torch; `import stylize` stays light

        return getattr(image_api, name)
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")
