"""The built-in generators: ``gmm``, ``oracle``, ``stylegan2``/``stylegan3`` and ``ddsp``
(registered by :mod:`grainbench.builtins`)."""
