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

The folder is kept under ``SYMGRAD_CACHE_MAX_MB`` (default 512) by `prune`, which removes whole
entries (a kernel module with its Numba files) least recently used first.
"""

from __future__ import annotations

import functools
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
    """The versions that are part of every key (Numba's read from its installed metadata: it
    need not be imported yet)."""
    from codegen.njit import level

    symgrad = getattr(sys.modules.get("symgrad"), "__version__", "?")
    # the code fingerprint: a cached kernel embeds code emitted by codegen (e.g. codegen.blas)
    return (f"python {platform.python_version()}; numpy {np.__version__}; "
            f"numba {numba_version()}; llvm -O{level()}; "
            f"symgrad {symgrad} ({code_fingerprint()})")


@functools.cache
def numba_version() -> str:
    """The installed Numba's version, without importing it."""
    import importlib.metadata

    return importlib.metadata.version("numba")


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


@functools.cache
def code_fingerprint() -> str:
    """A hash of the source files of the ``symgrad`` and ``codegen`` packages (once per
    process): what turns a traced program into kernels."""
    h = hashlib.sha256()
    codegen = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root in (codegen, os.path.join(os.path.dirname(codegen), "symgrad")):
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), "rb") as f:
                        h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()[:16]


# The environment the scheduler reads (codegen.schedule): part of every alias.
SCHEDULE_SETTINGS = ("SYMGRAD_BLAS", "SYMGRAD_PARALLEL", "SYMGRAD_CHECK")


def alias(*parts: str) -> str:
    """The alias of a traced program compiled some way (``parts`` name both), with all else
    that decides its kernels: symgrad's and codegen's code, the scheduler's settings, and
    whether SciPy's BLAS is there (products as BLAS calls or as loops)."""
    import importlib.util

    settings = [os.environ.get(k, "") for k in SCHEDULE_SETTINGS]
    scipy = importlib.util.find_spec("scipy") is not None
    text = "|".join([*parts, code_fingerprint(), repr(settings), repr(scipy)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
    from codegen.render import KEY_LINE

    try:
        with open(path_for(key), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    line = f"\n{KEY_LINE}{key}"
    if line not in text or source_key(text.replace(line, "", 1)) != key:
        return None
    return text


# --- size limit: least recently used entries go first ------------------------------------------

DEFAULT_MAX_MB = 512

# Prune to this share of the limit, so that the next few new kernels do not each trigger a
# round of deletions.
PRUNE_TO = 0.8


def max_cache_bytes() -> int:
    """The cache size limit in bytes from ``SYMGRAD_CACHE_MAX_MB`` (MiB, default 512); 0 means
    no limit (the variable set to 0 or less)."""
    env = os.environ.get("SYMGRAD_CACHE_MAX_MB", "").strip()
    try:
        mb = float(env) if env else DEFAULT_MAX_MB
    except ValueError:  # a typo must not break compiling
        mb = DEFAULT_MAX_MB
    return int(mb * 2**20) if mb > 0 else 0


class _Entry:
    """The files of one kernel module (``k_<key>.py`` and its Numba cache files)."""

    def __init__(self):
        self.paths, self.size, self.used = [], 0, 0.0

    def add(self, path: str, st: os.stat_result) -> None:
        self.paths.append(path)
        self.size += st.st_size
        self.used = max(self.used, st.st_atime, st.st_mtime)


def _files(folder: str):
    """(name, path, stat) of the regular files in ``folder``; files that vanish are skipped."""
    try:
        with os.scandir(folder) as it:
            found = list(it)
    except OSError:
        return
    for f in found:
        try:
            if f.is_file(follow_symlinks=False):
                yield f.name, f.path, f.stat(follow_symlinks=False)
        except OSError:
            continue


def _entry_key(name: str, top: bool) -> str | None:
    """The kernel key a cache file belongs to, or None (alias records, temporaries, others)."""
    if not name.startswith("k_") or ".tmp" in name:  # never delete another writer's temporary
        return None
    if top:
        return name[2:-3] if name.endswith(".py") and "." not in name[2:-3] else None
    return name[2:].split(".", 1)[0]  # Numba's files: k_<key>.<function>-<line>.py311.nbi


def _scan(folder: str) -> tuple[dict, list, int]:
    """(entries by key, alias record paths, total bytes) of the cache folder."""
    entries, aliases, total = {}, [], 0
    for sub, top in ((folder, True), (os.path.join(folder, "__pycache__"), False)):
        for name, path, st in _files(sub):
            total += st.st_size
            key = _entry_key(name, top)
            if key:
                entries.setdefault(key, _Entry()).add(path, st)
            elif top and name.startswith("t_") and name.endswith(".json"):
                aliases.append(path)
    return entries, aliases, total


def _remove(path: str) -> None:
    """Delete ``path``; gone already (a concurrent prune) or not deletable is not an error."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _remove_aliases(paths: list, keys: set) -> None:
    """Delete the alias records among ``paths`` that name one of ``keys``."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") in keys:
            _remove(path)


def prune(max_bytes: int | None = None, keep=()) -> int:
    """Keep the cache folder under ``max_bytes`` (default `max_cache_bytes`; 0 or less: no limit).

    When the folder is larger, whole entries are deleted, least recently used first (newest
    atime or mtime of their files), until it is under 80% of the limit; entries whose key is in
    ``keep`` (modules loaded in this process) stay, as do the alias records of other entries.
    Never raises on OSError. Returns the number of entries removed."""
    limit = max_cache_bytes() if max_bytes is None else max_bytes
    if limit <= 0:
        return 0
    try:
        folder = cache_dir()
    except OSError:
        return 0
    entries, aliases, total = _scan(folder)
    if total <= limit:
        return 0
    keep = set(keep)
    removed = set()
    for key, entry in sorted(entries.items(), key=lambda kv: kv[1].used):
        if total <= limit * PRUNE_TO:
            break
        if key in keep:
            continue
        for path in sorted(entry.paths, key=lambda p: not p.endswith(".py")):
            _remove(path)  # the module first: a reader then misses rather than half-loads
        total -= entry.size
        removed.add(key)
    if removed:
        _remove_aliases(aliases, removed)
    return len(removed)
