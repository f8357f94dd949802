"""stylize.batch.naming: the {variant} of default output names (the style and the non-default settings)."""

from __future__ import annotations

from pathlib import Path

from batch_helpers import make_image

from stylize.batch import DEFAULT_NAME, BatchOptions, collect_inputs, plan_jobs, run_variant
from stylize.batch.naming import MAX_SETTINGS, label
from stylize.config import AdaINConfig, FastConfig, OptimizeConfig
from stylize.video import VideoConfig


def test_defaults_name_only_the_style() -> None:
    for config in (AdaINConfig(), FastConfig(models=("candy",)), OptimizeConfig()):
        assert run_variant(config, BatchOptions(), VideoConfig()).render("mosaic") == "mosaic"


def test_non_default_pixel_settings_follow_the_style_in_field_order() -> None:
    variant = run_variant(AdaINConfig(alpha=0.9, crop=True, color="luminance"), BatchOptions(quality=80))
    assert variant.render("mosaic") == "mosaic_alpha0.9_crop_color-luminance_quality80"
    assert run_variant(AdaINConfig(alpha=0.9)).render("mosaic") == run_variant(AdaINConfig(alpha=0.9)).render("mosaic")


def test_settings_that_change_no_pixels_stay_out_and_weights_come_in_by_name() -> None:
    assert run_variant(FastConfig(channels_last=False)).render("candy") == "candy"
    assert run_variant(OptimizeConfig(save_every=10, plot=True)).render("s") == "s"
    assert run_variant(AdaINConfig(decoder="adain-decoder")).render("s") == "s_decoder-adain-decoder"
    assert run_variant(AdaINConfig(decoder="/models/my decoder.safetensors")).render("s") == "s_decoder-my-decoder"


def test_a_blend_says_which_style_got_which_weight_and_a_mask_run_names_its_masks() -> None:
    blend = run_variant(AdaINConfig(blend=(0.7, 0.3)), tags=["a", "b"], blended=True)
    assert blend.render("a+b") == "a@0.7+b@0.3"
    masked = run_variant(AdaINConfig(masks=(Path("masks/fg.png"),)), tags=["a", "b"], blended=True)
    assert masked.render("a+b") == "a+b_masks-fg"
    thirds = run_variant(OptimizeConfig(blend=(2 / 3, 1 / 3)), tags=["a", "b"], blended=True)
    assert thirds.render("a+b") == "a@0.667+b@0.333"


def test_videos_name_their_own_knobs_and_size_only_when_given() -> None:
    config = AdaINConfig(size=256)  # the images' cap: videos keep their own size
    kept = run_variant(config, BatchOptions(), VideoConfig(temporal=0.7, start=60.0))
    assert kept.render("s", is_video=False) == "s_size256"
    assert kept.render("s", is_video=True) == "s_temporal0.7_start60"
    sized = run_variant(AdaINConfig(), BatchOptions(), VideoConfig(frame_size=320, segment_s=5.0))
    assert sized.render("s", is_video=True) == "s_size320"


def test_names_stay_short_and_filesystem_safe() -> None:
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    config = OptimizeConfig(style_layers=layers, content_layers=("relu3_2",), init="noise", seed=3, scale_factor=1.5)
    name = run_variant(config, BatchOptions(quality=90)).render("s")
    other = run_variant(OptimizeConfig(style_layers=layers, init="noise", seed=4, scale_factor=1.5)).render("s")
    assert len(name) <= len("s_") + MAX_SETTINGS and name != other
    assert all(c.isalnum() or c in "._+-" for c in name)
    assert (
        label("vgg", "~/nets/my:vgg.pth") == "vgg-my-vgg"
        and label("codec", "a b") == "codec-a-b"
        and label("crop", False) == "no-crop"
    )


def test_plan_fills_variant_and_explicit_templates_keep_their_names(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "photo.jpg")
    inputs = collect_inputs([str(tmp_path / "in")])
    variant = run_variant(AdaINConfig(alpha=0.9))
    default = plan_jobs(inputs, ["mosaic"], BatchOptions(output=tmp_path / "o"), method="adain", variant=variant)
    assert BatchOptions().name == DEFAULT_NAME and default[0].output.name == "photo_adain_mosaic_alpha0.9.jpg"
    explicit = BatchOptions(output=tmp_path / "o", name="{stem}_{method}_{style}.{ext}")
    assert plan_jobs(inputs, ["mosaic"], explicit, method="adain", variant=variant)[0].output.name == (
        "photo_adain_mosaic.jpg"
    )
