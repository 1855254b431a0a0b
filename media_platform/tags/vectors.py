"""The two numeric rules the tag modules share: the logistic function and unit-length rows.

- :func:`sigmoid`: ``1 / (1 + exp(-z))`` written as ``(1 + tanh(z / 2)) / 2``, which never
  overflows (``exp(-z)`` does for ``z`` below about -710).
- :func:`unit_rows`: each row of a matrix scaled to unit L2 length. A row that cannot be
  scaled (all zeros, a norm of at most :data:`MIN_NORM`, or a value that is not finite) becomes
  a zero row, and the returned mask says which rows kept a direction: in the shot features a
  zero row is how an absent modality is stored, so "no direction" and "absent" are one rule.
"""

from __future__ import annotations

import numpy as np

MIN_NORM = 1e-12  # rows no longer than this have no direction worth keeping


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic function, elementwise, without overflow; in ``z``'s float precision
    (float64 for anything else)."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, kept)``: the rows of the 2-d ``x`` scaled to unit length (float64), and a bool
    mask of the rows that were; the other rows (zero, shorter than :data:`MIN_NORM`, or holding
    NaN / inf) are zeros in ``rows``.

    Raises:
        ValueError: ``x`` is not 2-d (callers check their inputs and word their own errors).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"unit_rows: expected a 2-d matrix, got shape {x.shape}")
    finite = np.isfinite(x).all(axis=1)
    x = np.where(finite[:, None], x, 0.0)
    norms = np.linalg.norm(x, axis=1)
    kept = finite & (norms > MIN_NORM)
    out = np.zeros_like(x)
    out[kept] = x[kept] / norms[kept, None]
    return out, kept
