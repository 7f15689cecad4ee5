"""grainbench: measure the grain of audio representations."""

__version__ = "0.1.0"
