"""`symgrad.linalg`, as `torch.linalg`: the norms (written over reductions in
`symgrad.math_reduce`). Matrix norms that need singular values ('nuc', ord ±2) are refused."""

from __future__ import annotations

from . import mathops as _M
from .trace import lifting as _lifting

__all__ = ["norm", "vector_norm", "matrix_norm"]

norm = _lifting(_M.linalg_norm)
norm.__name__ = "norm"
vector_norm = _lifting(_M.vector_norm)
matrix_norm = _lifting(_M.matrix_norm)
