"""Global grad mode: `no_grad`, `enable_grad`, `set_grad_enabled` (thread-local, as in PyTorch)."""

from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return getattr(_state, "enabled", True)


def _set(flag: bool) -> None:
    _state.enabled = flag


class set_grad_enabled:  # noqa: N801 - PyTorch's name
    """Context manager (and decorator) that sets grad mode to ``mode``."""

    def __init__(self, mode: bool = True):
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _set(self.mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self.prev)
        return False


class _GradModeContext:
    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self.prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):  # noqa: N801
    """Disable gradient recording inside the block: results don't require grad."""

    mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Enable gradient recording inside the block (undoes an enclosing `no_grad`)."""

    mode = True
