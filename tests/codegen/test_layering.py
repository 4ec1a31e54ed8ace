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
           # the exact zero test of sizes and bodies that shapes uses (SymPy only, below the IR)
           "symgrad.zero_test",
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
    for path in sorted((ROOT / "codegen").rglob("*.py")):
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


# codegen's stages in run order (codegen/__init__.py's docstring lists them); what the
# kernels call at run time (runtime, blas, special, vmath) is below every stage and imports none
STAGES = ["loop_ir", "analysis", "prepare", "schedule", "render", "load"]
RUNTIME = ["runtime", "blas", "special", "vmath", "njit", "native_call"]


def _layer(module: str):
    """The stage index of a codegen module (-1: the kernels' runtime), None for the API."""
    parts = module.split(".")
    if parts[0] != "codegen" or len(parts) == 1:
        return None
    if parts[1] in RUNTIME:
        return -1
    return STAGES.index(parts[1])


def _module_of(path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_stage_imports_a_later_one():
    found = {p.name for p in (ROOT / "codegen").iterdir() if p.is_dir() and
             (p / "__init__.py").exists()} | {p.stem for p in (ROOT / "codegen").glob("*.py")}
    assert found == set(STAGES) | set(RUNTIME) | {"__init__"}  # every module has its place
    bad = []
    for path in sorted((ROOT / "codegen").rglob("*.py")):
        here = _layer(_module_of(path))
        if here is None:
            continue
        for module, names in _imports(path):
            targets = [module] if module != "codegen" else [f"codegen.{n}" for n in names]
            for target in targets:
                there = _layer(target) if target.startswith("codegen") else None
                if there is not None and there > here:
                    bad.append(f"{_module_of(path)} imports {target}")
    assert not bad, bad


def test_the_map_in_the_docstring_names_every_stage_in_order():
    import codegen
    doc = codegen.__doc__
    positions = [doc.index(f"`codegen.{s}`") for s in STAGES]
    assert positions == sorted(positions)


def test_import_symgrad_does_not_import_numba():
    code = "import sys, symgrad; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_compile_imports_numba_only_when_it_compiles():
    # a helper process starts before the first compile imports Numba here (its start runs
    # beside that import, `codegen.available`)
    code = ("import sys, symgrad as sg; cf = sg.compile(lambda x: (x * x).sum()); "
            "print(cf.backend, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.split() == ["numba", "False"]
