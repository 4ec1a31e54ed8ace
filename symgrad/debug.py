"""Debug output, the only place symgrad prints.

``SYMGRAD_DEBUG`` levels: 1 timings and cache hits, 2 the IR after trace and grad, 3 the IR
after each pass, 4 the generated kernel source. ``SYMGRAD_DUMP=dir`` writes each stage to files.
``SYMGRAD_CHECK=1`` verifies the IR after every pass (on in tests).
"""

from __future__ import annotations

import os
import sys


def level() -> int:
    """The current SYMGRAD_DEBUG level (0 when unset)."""
    try:
        return int(os.environ.get("SYMGRAD_DEBUG", "0") or 0)
    except ValueError:
        return 1


def checking() -> bool:
    """True when SYMGRAD_CHECK asks for IR verification after each pass."""
    return os.environ.get("SYMGRAD_CHECK", "0") not in ("", "0")


def log(at_level: int, message: str) -> None:
    """Print ``message`` to stderr when SYMGRAD_DEBUG >= at_level."""
    if level() >= at_level:
        print(f"[symgrad] {message}", file=sys.stderr, flush=True)


def dumping() -> bool:
    """True when SYMGRAD_DUMP names a folder for the stages."""
    return bool(os.environ.get("SYMGRAD_DUMP"))


def dump(name: str, text: str) -> None:
    """Write ``text`` to $SYMGRAD_DUMP/name when SYMGRAD_DUMP is set."""
    folder = os.environ.get("SYMGRAD_DUMP")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)
