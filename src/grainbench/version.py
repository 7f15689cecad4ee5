"""The suite version (``grainbench.__version__``), in a module of its own so that what
records it need not import the package's lazy top level."""

__version__ = "0.2.0"
