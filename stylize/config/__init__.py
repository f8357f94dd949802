"""One frozen dataclass of knobs per command, torch-free: the CLI reads defaults and help here.

A module per method (:mod:`.adain`, :mod:`.optimize`, :mod:`.fast`, :mod:`.gan`) holds its
stylizing and training configs; :mod:`.common` the shared knobs and validators. Every public name
is re-exported, so callers say ``from stylize.config import X``.
"""

from stylize.config.adain import (
    ADAIN_DEFAULT_PAIR,
    ADAIN_DEFAULTS,
    PUBLISHED_ADAIN_PAIR,
    STRIDE,
    AdaINConfig,
    AdaINTrainConfig,
    default_adain_pair,
)
from stylize.config.common import (
    COLOR_MODES,
    CONCRETE_PRECISIONS,
    DEFAULT_SIZE,
    DEFAULT_VGG,
    PRECISIONS,
    VGG_ALIASES,
    check_at_least,
    check_color,
    check_finite,
    check_precision,
    help_of,
    knob,
    parse_layers,
    vgg_source,
)
from stylize.config.fast import FAST_DEFAULTS, FAST_MIN_SIDE, FAST_STRIDE, FastConfig, FastTrainConfig
from stylize.config.gan import (
    ANIMATIONS,
    ARCHITECTURES,
    DEFAULT_MODEL,
    LOSSES,
    MAX_SEED,
    MAX_SEEDS,
    NOISE_MODES,
    REGULARISERS,
    GANSampleConfig,
    GANTrainConfig,
    GeneratorConfig,
    parse_pair,
    parse_seeds,
)
from stylize.config.optimize import (
    INITS,
    OPTIMIZE_DEFAULTS,
    OPTIMIZERS,
    POOLINGS,
    STYLE_LOSSES,
    VGG19_LAYER_NAMES,
    OptimizeConfig,
)

__all__ = [
    "ADAIN_DEFAULTS", "ADAIN_DEFAULT_PAIR", "ANIMATIONS", "ARCHITECTURES", "COLOR_MODES", "CONCRETE_PRECISIONS",
    "DEFAULT_MODEL", "DEFAULT_SIZE", "DEFAULT_VGG", "FAST_DEFAULTS", "FAST_MIN_SIDE", "FAST_STRIDE", "INITS", "LOSSES",
    "MAX_SEED", "MAX_SEEDS", "NOISE_MODES", "OPTIMIZERS", "OPTIMIZE_DEFAULTS", "POOLINGS", "PRECISIONS",
    "PUBLISHED_ADAIN_PAIR", "REGULARISERS", "STRIDE", "STYLE_LOSSES", "VGG19_LAYER_NAMES", "VGG_ALIASES", "AdaINConfig",
    "AdaINTrainConfig", "FastConfig", "FastTrainConfig", "GANSampleConfig", "GANTrainConfig", "GeneratorConfig",
    "OptimizeConfig", "check_at_least", "check_color", "check_finite", "check_precision", "default_adain_pair",
    "help_of", "knob", "parse_layers", "parse_pair", "parse_seeds", "vgg_source",
]  # fmt: skip
