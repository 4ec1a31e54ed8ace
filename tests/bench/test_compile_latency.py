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
