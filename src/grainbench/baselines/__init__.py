"""Reference representations and generators shipped with grainbench (registered by
:mod:`grainbench.builtins`)."""
