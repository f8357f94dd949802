"""Sampling GAN generators: ours (safetensors) and pytorch_GAN_zoo's DCGAN and PGAN (.pth).

    sampler = Sampler(load_generator("fashion-mnist"), torch.device("cpu"))
    images = sampler.images(range(64), psi=0.7)        # (64, C, H, W) in [0, 1], on the CPU

Seeds: each seed draws its latent (then its class, then its noise maps) from its own
``torch.Generator`` on the CPU, so an image depends on its seed only, never on the batch it is
computed in or on the device. Truncation pulls latents towards the average (w for the
style-based model, z = 0 for the others); style mixing takes seed A's styles before layer K and
seed B's from K on; interpolation is spherical between Gaussian latents.

Model files never unpickle code: ours are safetensors; published ``.pth`` files load with
``torch.load(weights_only=True)``; StyleGAN2-ADA ``.pkl`` files are refused.
"""

from stylize.backends.gan.generator import OurGenerator, load_generator
from stylize.backends.gan.sampler import Sampler
from stylize.backends.gan.service import sample
from stylize.backends.gan.writing import write_grid

__all__ = ["OurGenerator", "Sampler", "load_generator", "sample", "write_grid"]
