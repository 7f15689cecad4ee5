"""A run's generator, fitted at most once on the same training images.

Two tasks of one run may fit the same generator on the same encoded training clips
(``generation`` then ``realized``). The runner hands every task a :class:`FitOnce` around
the generator: :meth:`FitOnce.fit` always fits (and remembers what it was given);
:meth:`FitOnce.fit_once` fits only when its images or labels differ from the last fit's
(compared exactly), and :attr:`FitOnce.has_fit` tells a later task that the run has
fitted it already (the realized task then uses the generation task's model, fitted on the
training clips outside the reference pool), so a StyleGAN is not trained twice. Everything else (``sample``, ``project``, ``describe``, attributes)
is the wrapped generator's own.
"""

from __future__ import annotations

from typing import Any

import torch


def _same(a: Any, b: Any) -> bool:
    """Exact equality of two fit arguments (tensors, arrays or ``None``)."""
    if a is None or b is None:
        return a is None and b is None
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    return ta.shape == tb.shape and ta.dtype == tb.dtype and bool(torch.equal(ta, tb))


class FitOnce:
    """The generator ``inner`` with a memory of its last fit (see the module doc)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._last: tuple[Any, Any] | None = None

    def fit(self, images: Any, labels: Any = None) -> Any:
        """Fit ``inner`` on ``images (N, C, H, W)`` (and ``labels``) and remember them."""
        self._last = None
        out = self.inner.fit(images, labels)
        self._last = (images, labels)
        return out

    @property
    def has_fit(self) -> bool:
        """True once :meth:`fit` has finished in this run (on whatever training clips)."""
        return self._last is not None

    def fit_once(self, images: Any, labels: Any = None) -> bool:
        """Fit unless the last fit had exactly these images and labels; True when it fitted."""
        if self._last is not None and _same(self._last[0], images) and _same(self._last[1], labels):
            return False
        self.fit(images, labels)
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
