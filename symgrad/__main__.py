"""``python -m symgrad``: the `symgrad` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
