"""Analysis of one-pixel errors, shared by the tasks that need it (perturbation, locality).

- :mod:`~grainbench.analysis.pixel_errors`: the exact error of moving one pixel, by the
  cheapest route a representation allows (:class:`~grainbench.analysis.pixel_errors.PixelErrors`),
  with :mod:`~grainbench.analysis.magif_errors` and :mod:`~grainbench.analysis.harmonic_errors`
  for the parametric stages and :mod:`~grainbench.analysis.forward` for Jacobian columns;
- :mod:`~grainbench.analysis.shape`: time/frequency shape of error signals and masks
  (:class:`~grainbench.analysis.shape.ErrorAnalyser`);
- :mod:`~grainbench.analysis.measure`, :mod:`~grainbench.analysis.decoded`,
  :mod:`~grainbench.analysis.maps`: every per-pixel metric of many pixels, bases and δs;
- :mod:`~grainbench.analysis.pixels`, :mod:`~grainbench.analysis.energy_sample`: which
  pixels are measured.
"""
