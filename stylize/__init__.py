"""stylize: artistic image stylization (Gatys, Johnson, AdaIN, GANs) for the command line.

Importing this package is light: torch loads only when a method runs.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
