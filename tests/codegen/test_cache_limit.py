"""The kernel cache size limit: whole entries go, least recently used first; modules loaded in
this process, and alias records of the entries that stay, survive."""

from __future__ import annotations

import json
import os

import pytest
from corpus_cases import corpus_case

import codegen
from codegen.load import cache

KB = 1024
NOW = 1_700_000_000  # a fixed clock: ages are set with os.utime


def _entry(folder, key, age, size=10 * KB, numba_files=2):
    """Fabricate kernel module ``key`` with Numba cache files, last used ``age`` s ago; returns
    its paths. Half its bytes are in the module, half in ``__pycache__``."""
    pycache = folder / "__pycache__"
    pycache.mkdir(exist_ok=True)
    paths = [folder / f"k_{key}.py"]
    paths += [pycache / f"k_{key}.pass{k}-{10 + k}.py311.nbi" for k in range(numba_files)]
    sizes = [size // 2] + [size // 2 // numba_files] * numba_files
    for path, n in zip(paths, sizes):
        path.write_bytes(b"x" * n)
        os.utime(path, (NOW - age, NOW - age))
    return paths


def _alias(folder, name, key):
    path = folder / f"t_{name}.json"
    path.write_text(json.dumps({"key": key, "consts": {}}))
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYMGRAD_CACHE_MAX_MB", raising=False)
    return tmp_path


def _keys(folder):
    return sorted(p.name[2:-3] for p in folder.glob("k_*.py"))


def _numba_keys(folder):
    return sorted({p.name[2:].split(".")[0] for p in (folder / "__pycache__").iterdir()})


def test_least_recently_used_entries_go_first_with_their_numba_files(folder):
    for key, age in (("a", 500), ("b", 100), ("c", 400), ("d", 200), ("e", 300)):
        _entry(folder, key, age)
    # 50 KB in all, limit 40 KB: prune down to 32 KB, i.e. remove the two oldest (a, c)
    assert cache.prune(40 * KB) == 2
    assert _keys(folder) == ["b", "d", "e"]
    assert _numba_keys(folder) == ["b", "d", "e"]


def test_newest_of_access_and_modification_time_counts(folder):
    for key in "abc":
        _entry(folder, key, age=300)
    # "a" was read recently (atime), though written long ago
    (path,) = folder.glob("__pycache__/k_a.pass0-*.nbi")
    os.utime(path, (NOW, NOW - 300))
    assert cache.prune(20 * KB) == 2  # 30 KB down to 16 KB
    assert _keys(folder) == ["a"]


def test_under_the_limit_nothing_is_removed(folder):
    for key in "abc":
        _entry(folder, key, age=100)
    before = sorted(p.name for p in folder.rglob("*"))
    assert cache.prune(30 * KB) == 0
    assert sorted(p.name for p in folder.rglob("*")) == before


def test_kept_keys_survive_even_when_oldest(folder):
    for key, age in (("old", 900), ("a", 300), ("b", 200), ("c", 100)):
        _entry(folder, key, age)
    assert cache.prune(30 * KB, keep={"old"}) == 2
    assert _keys(folder) == ["c", "old"]
    # everything but kept entries may go; still over the limit is not an error
    assert cache.prune(1, keep={"old", "c"}) == 0
    assert _keys(folder) == ["c", "old"]


def test_alias_records_of_removed_entries_go(folder):
    _entry(folder, "a", 300)
    _entry(folder, "b", 100)
    gone = _alias(folder, "to_a", "a")
    stays = _alias(folder, "to_b", "b")
    broken = folder / "t_broken.json"
    broken.write_text("{not json")
    assert cache.prune(15 * KB) == 1
    assert not gone.exists() and stays.exists() and broken.exists()


def test_other_files_count_but_are_never_deleted(folder):
    _entry(folder, "a", 300)
    tmp = folder / "k_b.py.123.456.tmp"  # another process is writing it
    tmp.write_bytes(b"x" * 20 * KB)
    assert cache.prune(25 * KB) == 1
    assert _keys(folder) == [] and tmp.exists()


def test_limit_comes_from_the_environment(folder, monkeypatch):
    for key, age in (("a", 300), ("b", 200), ("c", 100)):
        _entry(folder, key, age)
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "0")
    assert cache.prune() == 0
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "-1")
    assert cache.prune() == 0
    assert _keys(folder) == ["a", "b", "c"]
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", str(20 / 1024))  # 20 KB: down to 16 KB
    assert cache.prune() == 2
    assert _keys(folder) == ["c"]


def test_default_limit(monkeypatch):
    monkeypatch.delenv("SYMGRAD_CACHE_MAX_MB", raising=False)
    assert cache.max_cache_bytes() == 512 * 2**20
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", "oops")
    assert cache.max_cache_bytes() == 512 * 2**20


def test_files_vanishing_meanwhile_are_not_an_error(folder, monkeypatch):
    for key, age in (("a", 300), ("b", 200), ("c", 100)):
        _entry(folder, key, age)
    real_unlink = os.unlink

    def racing_unlink(path, *args, **kwargs):
        real_unlink(path)  # a concurrent prune got there first
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", racing_unlink)
    assert cache.prune(15 * KB) == 2
    assert _keys(folder) == ["c"]


def test_missing_folder_is_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "new"))
    assert cache.prune(1) == 0


def test_compiling_a_new_kernel_prunes_but_keeps_the_modules_in_use(folder, monkeypatch):
    monkeypatch.setattr(codegen, "_modules", {})
    for key, age in (("a", 300), ("b", 200)):
        _entry(folder, key, age, size=50 * KB)
    stale = _alias(folder, "to_a", "a")
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", str(1 / 1024))  # 1 KB: below one kernel
    first = corpus_case("mse")
    run_first = codegen.compile_program(first.program, jit=False)
    assert _keys(folder) == [run_first.__module__.rsplit("k_", 1)[1].removesuffix("_py")]
    assert not stale.exists()
    # a second new kernel: the first stays too, as its module is loaded in this process
    second = corpus_case("logistic")
    run_second = codegen.compile_program(second.program, jit=False)
    assert len(_keys(folder)) == 2
    first.check(run_first(first.arrays))
    second.check(run_second(second.arrays))


def test_a_cache_hit_does_not_prune(folder, monkeypatch):
    monkeypatch.setattr(codegen, "_modules", {})
    case = corpus_case("mse")
    codegen.compile_program(case.program, jit=False)
    _entry(folder, "a", 300, size=50 * KB)
    monkeypatch.setenv("SYMGRAD_CACHE_MAX_MB", str(1 / 1024))
    monkeypatch.setattr(codegen, "_modules", {})
    codegen.compile_program(case.program, jit=False)  # same source: file "hit"
    assert "a" in _keys(folder)
