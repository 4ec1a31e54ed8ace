"""`symgrad.linalg`, as `torch.linalg`: the norms (written over reductions in
`symgrad.math_reduce`) and the singular values (`svdvals`, eager only, behind the matrix norms
'nuc' and ord ±2)."""

from __future__ import annotations

from . import mathops as _M
from .trace import lifting as _lifting

__all__ = ["norm", "vector_norm", "matrix_norm", "svdvals"]

norm = _lifting(_M.linalg_norm)
norm.__name__ = "norm"
vector_norm = _lifting(_M.vector_norm)
matrix_norm = _lifting(_M.matrix_norm)
svdvals = _lifting(_M.svdvals)
