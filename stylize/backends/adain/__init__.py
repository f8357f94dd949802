"""AdaIN arbitrary style transfer (Huang & Belongie 2017): one encoder pass, one decoder pass.

The encoder is the normalised VGG-19 up to relu4_1, the decoder its mirror. By default the pair is
naoto0804's published ``vgg_normalised.pth`` / ``decoder.pth``, loaded unchanged; a decoder made by
``train-adain`` is paired with the encoder it was trained for (our checkpoints record it), so one
trained on the bundled VGG-19 runs offline with ``--decoder FILE`` alone.
Speed: channels_last, in-place ReLUs, weights built without random init, style statistics
computed once per style, optional bf16 autocast, and exact tiling for large images.
"""

from stylize.backends.adain.backend import AdaINMethod, build, plan, prepare_content
from stylize.backends.adain.model import AdaINModel, load_decoder, load_encoder, load_pair

__all__ = ["AdaINMethod", "AdaINModel", "build", "load_decoder", "load_encoder", "load_pair", "plan", "prepare_content"]
