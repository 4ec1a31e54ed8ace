"""Source file -> module: imported from its real file (tracebacks and ``inspect.getsource``
point at kernel lines), compiled by Numba lazily on first call, or run as plain Python.

``jit=False`` imports the same file with Numba's decorators switched off (what
``NUMBA_DISABLE_JIT=1`` does), so the kernels run as ordinary Python on NumPy scalars.
Numba's on-disk cache is hardened: an unreadable index or data file is a cache miss that is
rewritten, never a crash.
"""

from __future__ import annotations

import importlib.util
import sys
import threading

_DISABLE_LOCK = threading.Lock()


def _safe_cache_class():
    from numba.core.caching import FunctionCache

    class SafeFunctionCache(FunctionCache):
        """Numba's function cache, treating a corrupt entry as a miss."""

        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception:
                try:
                    self._cache_file.flush()  # rewrite an empty index
                except Exception:
                    pass
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
            except Exception:
                pass

    return SafeFunctionCache


def harden_caches(module) -> int:
    """Give every Numba dispatcher of ``module`` a corruption-tolerant cache; returns count."""
    try:
        cls = _safe_cache_class()
    except ImportError:
        return 0
    count = 0
    for value in vars(module).values():
        if getattr(value, "_cache", None) is not None and hasattr(value, "py_func"):
            if getattr(value.py_func, "__module__", None) == module.__name__:
                value._cache = cls(value.py_func)
                count += 1
    return count


def load_module(path: str, name: str, jit: bool = True, bindings: dict | None = None):
    """Import the module at ``path`` as ``name``; ``bindings`` are set as its globals first."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(bindings or {})
    if jit:
        spec.loader.exec_module(module)
        harden_caches(module)
    else:
        import numba


        with _DISABLE_LOCK:
            old = numba.config.DISABLE_JIT
            numba.config.DISABLE_JIT = True
            try:
                spec.loader.exec_module(module)
            finally:
                numba.config.DISABLE_JIT = old
    sys.modules[name] = module
    return module


def kernels_of(module) -> dict:
    """The Numba dispatchers of a module by name (empty for a jit=False module)."""
    return {k: v for k, v in vars(module).items()
            if hasattr(v, "py_func") and hasattr(v, "signatures")}
