"""Registry and cache of every pretrained file stylize uses.

Files live in ``$STYLIZE_HOME`` (else ``$XDG_CACHE_HOME/stylize``, else ``~/.cache/stylize``).
A file torchvision already downloaded into torch hub's cache is used in place. Downloads stream
to a temp file, are SHA-256 checked, then renamed: a failure leaves nothing behind.
``STYLIZE_OFFLINE=1`` never touches the network; ``STYLIZE_MIRROR`` replaces the download host.

The modules, each importing only the ones below it (``lint-imports`` keeps it so): ``local``
(import, list, verify) -> ``download`` (:func:`ensure`, :func:`resolve`, offline, mirror) -> ``cache``
(places and hash checks) -> ``registry`` (:class:`WeightSpec`, the pins, :func:`weights_id`).
"""

from stylize.files import sha256_file
from stylize.weights.cache import (
    RECORDED,
    cache_dir,
    cache_path,
    check_hash,
    checked_cached,
    expected_hash,
    fast_models_dir,
    find_cached,
    hash_matches,
    torch_hub_dir,
)
from stylize.weights.download import CHUNK, TIMEOUT_S, download_url, ensure, offline, resolve
from stylize.weights.local import CacheEntry, check_layout_of, import_file, list_cache, verify_cache
from stylize.weights.registry import REGISTRY, WeightSpec, get_spec, register, weights_id

__all__ = [
    "CHUNK",
    "RECORDED",
    "REGISTRY",
    "TIMEOUT_S",
    "CacheEntry",
    "WeightSpec",
    "cache_dir",
    "cache_path",
    "check_hash",
    "check_layout_of",
    "checked_cached",
    "download_url",
    "ensure",
    "expected_hash",
    "fast_models_dir",
    "find_cached",
    "get_spec",
    "hash_matches",
    "import_file",
    "list_cache",
    "offline",
    "register",
    "resolve",
    "sha256_file",
    "torch_hub_dir",
    "verify_cache",
    "weights_id",
]
