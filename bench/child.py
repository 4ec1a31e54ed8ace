"""Run a measurement in a fresh interpreter and read back what it printed after ``RESULT``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(code: str, env: dict, what: str, timeout: float = 600) -> dict:
    """Run ``code`` in a new interpreter (``env`` plus the repository on ``PYTHONPATH``, in the
    repository); the JSON after its last ``RESULT``. A failure raises naming ``what``."""
    env = dict(env, PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0 or "RESULT" not in proc.stdout:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} subprocess failed: {' | '.join(tail)}")
    return json.loads(proc.stdout.rsplit("RESULT", 1)[1])
