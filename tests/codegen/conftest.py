"""Fixtures for the code generator tests: corpus programs with their reference outputs.

Compiled kernels go to the normal kernel cache (``SYMGRAD_CACHE_DIR`` or ~/.cache/symgrad), so a
second test run starts warm; tests of the cache itself use temporary folders.
"""

from __future__ import annotations

import pytest

pytest.importorskip("numba")

from corpus_cases import corpus_case  # noqa: E402


@pytest.fixture
def case():
    return corpus_case
