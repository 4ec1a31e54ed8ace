"""bench.compile_latency: the project's modules are byte-compiled before a latency is measured."""

from __future__ import annotations

import importlib.util
import os

from bench import compile_latency
from bench.child import ROOT


def test_the_packages_are_byte_compiled_as_pip_install_would():
    cached = {name: importlib.util.cache_from_source(os.path.join(ROOT, name, "__init__.py"))
              for name in compile_latency.PACKAGES}
    for path in cached.values():  # a cache, made again below
        if os.path.exists(path):
            os.remove(path)
    assert compile_latency.ensure_bytecode()
    for path in cached.values():
        assert os.path.exists(path), path


def test_versus_alternates_the_setting_and_restores_the_environment(monkeypatch):
    seen = []

    def fake_run_once(key, cache_dir, n=None, timeout=600, numba_cache=None):
        value = os.environ.get("SYMGRAD_TEST_SETTING")
        seen.append(value)
        return {"total_s": 2.0 if value == "0" else 1.5}

    monkeypatch.setattr(compile_latency, "run_once", fake_run_once)
    monkeypatch.setattr(compile_latency, "ensure_bytecode", lambda: True)
    monkeypatch.setenv("SYMGRAD_TEST_SETTING", "1")
    r = compile_latency.versus("W6", "SYMGRAD_TEST_SETTING=0", rounds=3)
    assert seen == ["1", "0", "0", "1", "1", "0"]  # which goes first alternates
    assert r["base_s"] == [1.5] * 3 and r["other_s"] == [2.0] * 3
    assert r["median_ratio"] == 0.75 and r["other_median_s"] == 2.0
    assert os.environ["SYMGRAD_TEST_SETTING"] == "1"
    monkeypatch.delenv("SYMGRAD_TEST_SETTING")
    compile_latency.versus("W6", "SYMGRAD_TEST_SETTING=0", rounds=1)
    assert "SYMGRAD_TEST_SETTING" not in os.environ
