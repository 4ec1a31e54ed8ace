"""The on-disk kernel cache: key -> source file, written atomically, repaired when corrupt.

The key hashes the final source text with the versions that could change what it means (Python,
NumPy, Numba, symgrad). The file ``k_<key>.py`` lives in ``SYMGRAD_CACHE_DIR`` (default
``$XDG_CACHE_HOME/symgrad`` or ``~/.cache/symgrad``); Numba's own cache (``cache=True``) keeps the
machine code next to it in ``__pycache__``, so a second process skips LLVM.

A second file, ``t_<alias>.json``, records which kernel module a *traced* program (and the kind
of runner asked for) compiled to, so that a second process can load the kernels right after
tracing, skipping differentiation, simplification, scheduling and printing. Its alias hashes
the traced program with a fingerprint of symgrad's and codegen's own source files, so editing
either makes old records unreachable.
"""

from __future__ import annotations

import hashlib
import json
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


_CODE_FINGERPRINT: list = []


def code_fingerprint() -> str:
    """A hash of the source files of the ``symgrad`` and ``codegen`` packages (once per
    process): what turns a traced program into kernels."""
    if not _CODE_FINGERPRINT:
        h = hashlib.sha256()
        here = os.path.dirname(os.path.abspath(__file__))
        for root in (here, os.path.join(os.path.dirname(here), "symgrad")):
            for folder, dirs, files in sorted(os.walk(root)):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".py"):
                        with open(os.path.join(folder, name), "rb") as f:
                            h.update(name.encode() + b"\0" + f.read())
        _CODE_FINGERPRINT.append(h.hexdigest()[:16])
    return _CODE_FINGERPRINT[0]


def alias_path(alias: str) -> str:
    """The record naming the kernel module of a traced program."""
    return os.path.join(cache_dir(), f"t_{alias}.json")


def read_alias(alias: str) -> dict | None:
    """The record for ``alias``, or None when missing or unreadable (never raises)."""
    try:
        with open(alias_path(alias), encoding="utf-8") as f:
            record = json.load(f)
        return record if isinstance(record, dict) and isinstance(record.get("key"), str) \
            else None
    except (OSError, ValueError):
        return None


def write_alias(alias: str, record: dict) -> None:
    """Store the record for ``alias`` (atomically; a failure to write is not an error)."""
    try:
        write_atomic(alias_path(alias), json.dumps(record))
    except OSError:
        pass


def read_module(key: str) -> str | None:
    """The source of kernel module ``key`` if its file is intact (its text hashes to its key),
    else None."""
    from .render import KEY_LINE

    try:
        with open(path_for(key), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    line = f"\n{KEY_LINE}{key}"
    if line not in text or source_key(text.replace(line, "", 1)) != key:
        return None
    return text
