"""The kernel cache: a second process starts warm, corrupt entries are recompiled, writes are
atomic, and the source is imported from its real file."""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from corpus_cases import corpus_case

import codegen
from codegen.load import cache

ROOT = pathlib.Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np
import codegen
from codegen.load.jit import kernels_of
from corpus_cases import corpus_case
case = corpus_case("logistic")
run = codegen.compile_program(case.program)
t0 = time.perf_counter()
out = run(case.arrays)
first = time.perf_counter() - t0
kernels = kernels_of(sys.modules[run.__module__])
hits = sum(sum(k.stats.cache_hits.values()) for k in kernels.values())
misses = sum(sum(k.stats.cache_misses.values()) for k in kernels.values())
case.check(out)
print(json.dumps(dict(first=first, hits=hits, misses=misses, stats=codegen.stats)))
"""


def _child(cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_CACHE_DIR", None)  # Numba's machine code next to the module, as by default
    code = _CHILD.format(root=str(ROOT), here=str(pathlib.Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_process_loads_from_disk_and_survives_corrupt_entries(tmp_path):
    cold = _child(tmp_path)
    assert cold["misses"] > 0 and cold["stats"]["files_written"] == 1
    warm = _child(tmp_path)
    assert warm["misses"] == 0 and warm["hits"] > 0
    assert warm["stats"]["files_written"] == 0 and warm["stats"]["files_repaired"] == 0
    # corrupt Numba's index and data files: recompiled, not a crash
    pycache = tmp_path / "__pycache__"
    files = list(pycache.glob("*.nbi")) + list(pycache.glob("*.nbc"))
    assert files
    for f in files:
        f.write_bytes(b"garbage")
    again = _child(tmp_path)
    assert again["misses"] > 0
    # a corrupt source file is rewritten
    (src,) = tmp_path.glob("k_*.py")
    src.write_text("this is not python")
    fixed = _child(tmp_path)
    assert fixed["stats"]["files_repaired"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_source_file_is_repaired_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})
    case = corpus_case("where_compare")
    codegen.compile_program(case.program, jit=False)
    (path,) = tmp_path.glob("k_*.py")
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # a torn write
    monkeypatch.setattr(codegen, "_modules", {})
    before = codegen.stats["files_repaired"]
    run = codegen.compile_program(case.program, jit=False)
    assert codegen.stats["files_repaired"] == before + 1
    assert path.read_text() == good
    case.check(run(case.arrays))


def test_source_is_imported_from_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})
    case = corpus_case("mse")
    run = codegen.compile_program(case.program, jit=False)
    module = sys.modules[run.__module__]
    assert pathlib.Path(module.__file__).parent == tmp_path
    assert inspect.getsource(run).startswith("def run(inputs):")
    assert inspect.getsource(module) == codegen.program_source(case.program)


def test_kernel_errors_point_at_kernel_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})  # not a module loaded from another folder
    case = corpus_case("softmax_ce")
    run = codegen.compile_program(case.program, jit=False)
    arrays = list(case.arrays)
    arrays[1] = np.full_like(arrays[1], 99)  # labels out of range
    with pytest.raises(IndexError) as info:
        run(arrays)
    frames = [f for f in info.traceback if str(f.path).startswith(str(cache.cache_dir()))]
    assert frames, "the traceback should pass through the generated file"


def test_key_changes_with_source_and_is_stable():
    a = cache.source_key("x = 1\n")
    assert a == cache.source_key("x = 1\n") and a != cache.source_key("x = 2\n")
    assert len(a) == 24


def test_key_changes_with_the_llvm_level(monkeypatch):
    """Kernels compiled at another LLVM level are other kernels (they may round differently)."""
    from codegen.njit import DEFAULT_LEVEL

    monkeypatch.delenv("SYMGRAD_LLVM_OPT", raising=False)
    default = cache.source_key("x = 1\n")
    for other in {"1", "3"} - {str(DEFAULT_LEVEL)}:
        monkeypatch.setenv("SYMGRAD_LLVM_OPT", other)
        assert cache.source_key("x = 1\n") != default
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", str(DEFAULT_LEVEL))
    assert cache.source_key("x = 1\n") == default


def test_atomic_write_leaves_no_temporaries(tmp_path):
    p = tmp_path / "f.py"
    assert cache.ensure(str(p), "a\n") == "written"
    assert cache.ensure(str(p), "a\n") == "hit"
    assert cache.ensure(str(p), "b\n") == "repaired"
    assert p.read_text() == "b\n" and [q.name for q in tmp_path.iterdir()] == ["f.py"]


def test_unwritable_cache_folder_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocked / "cache"))
    folder = cache.cache_dir()
    assert os.path.isdir(folder) and os.access(folder, os.W_OK)


# --- aliases: traced program -> kernel module, so a second process skips the pipeline --------

def test_alias_record_loads_the_same_kernels_and_is_never_trusted_blindly(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})
    case = corpus_case("logistic")
    assert codegen.load_program("a1", jit=False) is None  # nothing recorded yet
    codegen.compile_program(case.program, jit=False, alias="a1")
    record = json.loads((tmp_path / "t_a1.json").read_text())
    assert (tmp_path / f"k_{record['key']}.py").exists()
    monkeypatch.setattr(codegen, "_modules", {})
    schedules = codegen.stats["schedules"]
    run = codegen.load_program("a1", jit=False)
    assert run is not None and codegen.stats["schedules"] == schedules  # nothing rebuilt
    case.check(run(case.arrays))
    # an edited kernel file no longer hashes to its key: not loaded
    src = tmp_path / f"k_{record['key']}.py"
    src.write_text(src.read_text().replace("def run(", "def run_(", 1))
    assert codegen.load_program("a1", jit=False) is None
    src.unlink()
    assert codegen.load_program("a1", jit=False) is None
    for garbage in ("{not json", "[]", '{"key": 3}', ""):
        (tmp_path / "t_a1.json").write_text(garbage)
        assert codegen.load_program("a1", jit=False) is None


def test_alias_record_carries_constant_arrays(tmp_path, monkeypatch):
    from codegen_corpus import program_of

    import symgrad as sg

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})
    c = np.array([1.0, 2.0, -3.0])
    x, w = np.arange(12.0).reshape(4, 3), sg.tensor(np.ones(3), requires_grad=True)
    program = program_of(lambda x, w: (x * w * sg.from_numpy(c)).sum(), x, w)
    want = codegen.compile_program(program, jit=False, alias="c1")([x, np.ones(3)])
    record = json.loads((tmp_path / "t_c1.json").read_text())
    assert [v[2] for v in record["consts"].values()] == [[1.0, 2.0, -3.0]]
    monkeypatch.setattr(codegen, "_modules", {})
    got = codegen.load_program("c1", jit=False)([x, np.ones(3)])
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


def test_program_fingerprint_sees_exact_constants_and_is_stable_across_processes():
    import symgrad as sg

    def fingerprint(const):
        cf = sg.compile(lambda x: ((x * 2.0).sum() - const) ** 2, backend="numpy")
        return cf.graph(np.ones(3), stage="traced").fingerprint()

    assert fingerprint(0.1) == fingerprint(0.1)
    assert fingerprint(0.1) != fingerprint(np.nextafter(0.1, 1.0))  # prints the same
    code = ("import numpy as np, symgrad as sg\n"
            "cf = sg.compile(lambda x: ((x * 2.0).sum() - 0.1) ** 2, backend='numpy')\n"
            "print(cf.graph(np.ones(3), stage='traced').fingerprint())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == fingerprint(0.1)


def test_programs_differing_only_in_an_unused_input_are_different_programs(tmp_path,
                                                                           monkeypatch):
    # the traced value does not read y, but y's shape is its gradient's shape: a program with
    # y of another rank (or dtype) must not load the first one's kernels from the cache
    import symgrad as sg

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))

    def traced(y):
        cf = sg.compile(lambda x, y: (x * 1.3).sum(), wrt=[0, 1], backend="numpy")
        return cf.graph(np.ones((2, 2)), y, stage="traced")

    a, b = traced(np.ones((2, 2))), traced(np.ones((2, 2, 2)))
    assert str(a).splitlines()[1:] == str(b).splitlines()[1:]  # same nodes ...
    assert a.fingerprint() != b.fingerprint()  # ... other inputs
    assert a.fingerprint() != traced(np.ones((2, 2), np.float32)).fingerprint()
    for y in (np.ones((2, 2)), np.ones((2, 2, 2)), np.ones((2, 2, 2, 2))):
        cf = sg.compile(lambda x, y: (x * 1.3).sum(), wrt=[0, 1])  # a new one: loads by alias
        _, (gx, gy) = cf.value_and_grad(np.ones((2, 2)), y)
        assert gy.shape == y.shape and not gy.any()


_COMPILE_CHILD = r"""
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import symgrad as sg
import codegen
rng = np.random.default_rng(0)
X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
w = sg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
cf = sg.compile(lambda X, y: ((X @ w - y) ** 2).mean(), wrt=[w])
v, (g,) = cf.value_and_grad(X, y)
print(json.dumps(dict(v=v, g=g.tolist(), stats=codegen.stats)))
"""


@pytest.mark.slow
def test_second_process_skips_differentiation_and_scheduling(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    code = _COMPILE_CHILD.format(root=str(ROOT))
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    assert cold["stats"]["schedules"] == 1 and cold["stats"]["aliases_loaded"] == 0
    assert warm["stats"]["schedules"] == 0 and warm["stats"]["aliases_loaded"] == 1
    assert warm["v"] == cold["v"] and warm["g"] == cold["g"]


def test_a_kernel_file_pruned_by_another_process_is_rewritten_or_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_modules", {})
    case = corpus_case("mse")
    real_load = codegen._load
    calls = []

    def load_after_a_prune(key, path, *args):
        calls.append(path)
        if len(calls) == 1:
            os.remove(path)  # another process's size limit removed it just now
        return real_load(key, path, *args)

    monkeypatch.setattr(codegen, "_load", load_after_a_prune)
    run = codegen.compile_program(case.program, jit=False, alias="p1")
    assert len(calls) == 2 and os.path.exists(calls[0])
    case.check(run(case.arrays))
    # the record now points at a file that goes away between reading and loading: a rebuild
    monkeypatch.setattr(codegen, "_modules", {})
    calls.clear()
    assert codegen.load_program("p1", jit=False) is None


_CHILD_SCIPY = r"""
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import symgrad as sg
import codegen
from codegen.load.jit import kernels_of
a, x = np.array([0.5, 2.0, 30.0, 0.0, 1e-3]), np.array([1.0, 0.3, 25.0, 2.0, 0.0])
cf = sg.compile(lambda a, x: (sg.special.gammainc(a, x) * x + sg.special.gammaincc(a, x)).sum(),
                wrt=[1], backend="numba")
value, (grad,) = cf.value_and_grad(a, x)
kernels = {{}}
for name, module in list(sys.modules.items()):
    if name.startswith("symgrad_kernels."):
        kernels.update(kernels_of(module))
hits = sum(sum(k.stats.cache_hits.values()) for k in kernels.values())
misses = sum(sum(k.stats.cache_misses.values()) for k in kernels.values())
print(json.dumps(dict(value=float(value), grad=grad.tolist(), hits=hits, misses=misses)))
"""


@pytest.mark.slow
def test_kernels_calling_scipy_load_from_disk_in_a_second_process(tmp_path):
    """A kernel calling SciPy's C functions through symbols (`codegen.special`) is compiled
    once: a second process loads its machine code from the disk cache (the module's import
    registers the symbols first) and gets the same numbers, eager's to float64 rounding."""
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    code = _CHILD_SCIPY.format(root=str(ROOT))

    def child():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = child(), child()
    assert cold["misses"] > 0 and warm["misses"] == 0 and warm["hits"] > 0
    assert (warm["value"], warm["grad"]) == (cold["value"], cold["grad"])
    import symgrad as sg
    a = sg.tensor([0.5, 2.0, 30.0, 0.0, 1e-3], dtype=sg.float64)
    x = sg.tensor([1.0, 0.3, 25.0, 2.0, 0.0], dtype=sg.float64, requires_grad=True)
    want = (sg.special.gammainc(a, x) * x + sg.special.gammaincc(a, x)).sum()
    want.backward()
    np.testing.assert_allclose(cold["value"], want.item(), rtol=1e-15)  # (order of the sum)
    # (d/dx = e^((a - 1) log x - x - lgamma(a)): at a = 30, x = 25 the exponent's terms of ~90
    # cancel to -3, so its rounding shows at ~1e-14)
    np.testing.assert_allclose(cold["grad"], x.grad.numpy(), rtol=1e-13)
