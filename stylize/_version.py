"""The version string, importable from anywhere without loading the package face (stylize/__init__.py)."""

__version__ = "0.1.0"
