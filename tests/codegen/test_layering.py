"""The dependency arrow: codegen imports only symgrad's IR-level modules, and importing symgrad
does not import Numba."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
ALLOWED = {"symgrad.ir", "symgrad.ir.node", "symgrad.ir.program", "symgrad.ir.printer",
           "symgrad.ir.interpret", "symgrad.ops", "symgrad.pointwise", "symgrad.functions",
           "symgrad.impl",
           "symgrad.dtypes", "symgrad.shapes", "symgrad.debug", "symgrad",
           # the pass driver and the node-rebuild helper: codegen's rewrites run as passes too
           "symgrad.passes", "symgrad.passes.rewrite"}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [a.name for a in node.names]


def test_codegen_imports_only_ir_modules():
    bad = []
    for path in sorted((ROOT / "codegen").glob("*.py")):
        for module, names in _imports(path):
            if not module.startswith("symgrad"):
                continue
            full = [module] if names is None else [module] + [f"{module}.{n}" for n in names]
            if module == "symgrad":
                ok = all(f"symgrad.{n}" in ALLOWED for n in names or [])
            else:
                ok = module in ALLOWED
            if not ok:
                bad.append(f"{path.name}: {full}")
    assert not bad


def test_import_symgrad_does_not_import_numba():
    code = "import sys, symgrad; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
