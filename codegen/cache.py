"""The on-disk kernel cache: key -> source file, written atomically, repaired when corrupt.

The key hashes the final source text with the versions that could change what it means (Python,
NumPy, Numba, symgrad). The file ``k_<key>.py`` lives in ``SYMGRAD_CACHE_DIR`` (default
``$XDG_CACHE_HOME/symgrad`` or ``~/.cache/symgrad``); Numba's own cache (``cache=True``) keeps the
machine code next to it in ``__pycache__``, so a second process skips LLVM.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading

import numpy as np


def cache_dir() -> str:
    """The kernel cache folder (created on demand; a temporary one if it cannot be written)."""
    folder = os.environ.get("SYMGRAD_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "symgrad")
    try:
        os.makedirs(folder, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    import tempfile

    folder = os.path.join(tempfile.gettempdir(), f"symgrad-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    return folder


def versions() -> str:
    """The versions that are part of every key."""
    import numba

    symgrad = getattr(sys.modules.get("symgrad"), "__version__", "?")
    return (f"python {platform.python_version()}; numpy {np.__version__}; "
            f"numba {numba.__version__}; symgrad {symgrad}")


def source_key(source: str) -> str:
    """A hash of the source text and the versions (24 hex digits)."""
    h = hashlib.sha256()
    h.update(source.encode())
    h.update(b"\0")
    h.update(versions().encode())
    return h.hexdigest()[:24]


def path_for(key: str) -> str:
    """The file holding the module with this key."""
    return os.path.join(cache_dir(), f"k_{key}.py")


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a part."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def ensure(path: str, text: str) -> str:
    """Make ``path`` hold exactly ``text``: "hit", "written" (new) or "repaired" (was wrong)."""
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        write_atomic(path, text)
        return "written"
    except (OSError, UnicodeDecodeError):
        current = None
    if current == text:
        return "hit"
    write_atomic(path, text)
    return "repaired"
