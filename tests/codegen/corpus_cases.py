"""Corpus programs with their reference outputs, shared by the code generator tests.

A module of its own (not conftest.py): ``from conftest import ...`` would find whichever
conftest.py was imported first when tests of several folders run together.
"""

from __future__ import annotations

import numpy as np
from codegen_corpus import cases, program_of

import symgrad as sg
from symgrad.ir.interpret import Interpreter

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


class Case:
    """One corpus program: the program, its input arrays and the interpreter's outputs."""

    def __init__(self, name, dtype, fn, args):
        self.name, self.dtype = name, dtype
        self.program = program_of(fn, *args)
        cf = sg.compile(fn, backend="numpy")
        _, self.arrays = cf._entry(args)
        self.expected = Interpreter(self.program).run(self.arrays)

    def check(self, outputs, arrays=None, expected=None):
        """Outputs equal the interpreter's: shape, dtype and values within the dtype's tolerance."""
        expected = self.expected if expected is None else expected
        assert len(outputs) == len(expected)
        for k, (got, want) in enumerate(zip(outputs, expected)):
            got, want = np.asarray(got), np.asarray(want)
            assert got.shape == want.shape, f"{self.name} output {k}: {got.shape} != {want.shape}"
            assert got.dtype == want.dtype, f"{self.name} output {k}: {got.dtype} != {want.dtype}"
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, want, **TOL[self.dtype], err_msg=self.name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=self.name)


def big_arrays(case, n, seed=0):
    """The case's inputs with ``n`` rows of fresh random data (small ints for index inputs)."""
    rng = np.random.default_rng(seed)
    out = []
    for x, a in zip(case.program.inputs, case.arrays):
        a = np.asarray(a)
        if a.ndim and x.shape[0] == case.program.inputs[0].shape[0]:
            shape = (n,) + a.shape[1:]
            a = (rng.integers(0, 4, shape) if a.dtype.kind == "i"
                 else rng.standard_normal(shape).astype(a.dtype))
        out.append(a)
    return out


_CACHE = {}


def corpus_case(name, dtype="float64") -> Case:
    """The corpus case ``name`` (built once per session)."""
    key = (name, dtype)
    if key not in _CACHE:
        fn, args = cases(dtype)[name]
        _CACHE[key] = Case(name, dtype, fn, args)
    return _CACHE[key]


CASE_NAMES = list(cases("float64"))


def errors_in_threads(worker, n=2) -> list:
    """Run ``worker(k)`` for k = 0 .. n-1, each on its own thread, all at once; the exceptions
    they raised."""
    import threading

    errors = []

    def guarded(k):
        try:
            worker(k)
        except Exception as e:  # pragma: no cover - reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
