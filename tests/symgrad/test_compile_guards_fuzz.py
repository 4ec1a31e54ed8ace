"""Shape guards, fuzzed: random small programs of size-dependent views (constant slices and
indices, reshape, split/chunk, ``x[..., i]``) traced once at a size N0 and then called at other
sizes must behave exactly like eager symgrad at every size: the same value and gradient, or an
exception of the same kind (IndexError / RuntimeError / ValueError) where eager raises.

A trace made at N0 is only valid for sizes that satisfy the decisions it took (a constant index
inside ``N``, a slice bound that does or does not clamp, ``N`` divisible by a split...); a call
at another size must either reuse the trace (when the guards hold) or retrace.

The programs are data (`Prog`: the input rank and a list of steps), so hypothesis shrinks them
and prints them as the lambda they stand for; `Prog.source` is that lambda's text.

The subprocess tests run the crash cases of the issue with the Numba back end in a fresh
interpreter, so that an out-of-bounds kernel (a segfault, heap corruption) fails the test
instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import symgrad as sg

ROOT = pathlib.Path(__file__).resolve().parents[2]
D = 3  # the fixed trailing size of 2-D inputs
TOL = dict(rtol=1e-12, atol=1e-12, equal_nan=True)
FAMILIES = (IndexError, RuntimeError, ValueError, TypeError, ZeroDivisionError)


# --- programs as data ---------------------------------------------------------------------------


def _bound(v):
    return "" if v is None else str(v)


def _slice_text(start, stop, step):
    text = f"{_bound(start)}:{_bound(stop)}"
    if step is not None:
        text += f":{step}"
    return text


def _at_axis(axis, key):
    """``key`` applied along ``axis`` (``y[key]``, ``y[:, key]``)."""
    return "[" + ":, " * axis + key + "]"


def render_step(step) -> str:
    """The source text that applies ``step`` to ``y`` (a suffix of an expression)."""
    kind = step[0]
    if kind == "slice":  # ("slice", axis, start, stop, step)
        _, axis, start, stop, stp = step
        return _at_axis(axis, _slice_text(start, stop, stp))
    if kind == "narrow":  # ("narrow", axis, start, length): y.narrow(axis, start, length)
        _, axis, start, length = step
        return _at_axis(axis, f"{start}:{start + length}")
    if kind == "index":  # ("index", axis, i)
        _, axis, i = step
        return _at_axis(axis, str(i))
    if kind == "ellipsis":  # ("ellipsis", i): y[..., i]
        return f"[..., {step[1]}]"
    if kind == "reshape":  # ("reshape", shape)
        return f".reshape({', '.join(map(str, step[1]))})"
    if kind == "flatten":
        return ".flatten()"
    if kind == "split":  # ("split", k or [a, b], dim, piece)
        _, sizes, dim, piece = step
        return f".split({sizes!r}, {dim})[{piece}]"
    if kind == "chunk":  # ("chunk", k, dim, piece)
        _, k, dim, piece = step
        return f".chunk({k}, {dim})[{piece}]"
    if kind == "mul":  # ("mul", c)
        return f" * {step[1]!r}"
    if kind in ("square", "pair"):
        raise ValueError(f"{kind} is rendered by Prog.source")
    if kind == "sin":
        return ".sin()"
    if kind == "pow2":
        return ".pow(2)"
    raise ValueError(step)


@dataclass(frozen=True)
class Prog:
    """A program over one float64 input ``x`` of rank ``ndim`` ((N,) or (N, D)): ``steps``
    applied in order, then ``.sum()``."""

    ndim: int
    steps: tuple

    @property
    def source(self) -> str:
        expr = "x"
        for step in self.steps:
            if step[0] == "square":
                expr = f"({expr} * {expr})" if len(expr) < 60 else f"{expr}.pow(2)"
            elif step[0] == "mul":
                expr = f"({expr}{render_step(step)})"
            elif step[0] == "pair":  # ("pair", axis, slice1, slice2): y[s1] * y[s2]
                _, axis, s1, s2 = step
                expr = (f"({expr}{_at_axis(axis, _slice_text(*s1))} * "
                        f"{expr}{_at_axis(axis, _slice_text(*s2))})")
            else:
                expr += render_step(step)
        return f"lambda x: {expr}.sum()"

    def fn(self):
        return eval(self.source, {"sg": sg})  # noqa: S307 - our own generated source

    def shape(self, n):
        return (n,) if self.ndim == 1 else (n, D)

    def __repr__(self):
        return f"Prog(ndim={self.ndim}, steps={list(self.steps)!r})  # {self.source}"


BOUNDS = [None, 0, 1, 2, 3, 5, 7, 10, -1, -2, -3, -5, -10, 100, 100000, -100000]
INDICES = st.one_of(st.integers(-8, 8), st.sampled_from([-1000, 999, 100000]))
SLICES = st.tuples(st.sampled_from(BOUNDS), st.sampled_from(BOUNDS),
                   st.sampled_from([None, 1, 2, 3]))
POINTWISE = st.one_of(
    st.tuples(st.just("mul"), st.sampled_from([1.5, -0.5, 2.0])),
    st.sampled_from([("square",), ("sin",), ("pow2",)]),
)


@st.composite
def programs(draw):
    """A random `Prog`. The rank of the running value is tracked so that steps are
    structurally valid (the interesting errors are the size-dependent ones)."""
    ndim = draw(st.sampled_from([1, 2]))
    rank, steps = ndim, []
    for _ in range(draw(st.integers(1, 4))):
        kinds = ["pointwise", "reshape", "flatten"]
        if rank >= 1:
            kinds += ["slice", "slice", "narrow", "index", "ellipsis", "split", "chunk", "pair"]
        kind = draw(st.sampled_from(kinds))
        axis = draw(st.integers(0, rank - 1)) if rank >= 1 else 0
        if kind == "pointwise":
            steps.append(draw(POINTWISE))
        elif kind == "slice":
            steps.append(("slice", axis, draw(st.sampled_from(BOUNDS)),
                          draw(st.sampled_from(BOUNDS)), draw(st.sampled_from([None, 1, 2, 3]))))
        elif kind == "narrow":
            steps.append(("narrow", axis, draw(st.integers(0, 6)), draw(st.integers(0, 4))))
        elif kind == "index":
            steps.append(("index", axis, draw(INDICES)))
            rank -= 1
        elif kind == "ellipsis":
            steps.append(("ellipsis", draw(INDICES)))
            rank -= 1
        elif kind == "reshape":
            shape = draw(st.sampled_from([(-1, 2), (2, -1), (-1,), (-1, 3), (3, -1)]))
            steps.append(("reshape", shape))
            rank = len(shape)
        elif kind == "flatten":
            steps.append(("flatten",))
            rank = 1
        elif kind == "split":
            if draw(st.booleans()):
                sizes, piece = draw(st.integers(1, 4)), draw(st.integers(-2, 3))
            else:
                sizes = [draw(st.integers(0, 6)), draw(st.integers(0, 6))]
                piece = draw(st.sampled_from([0, 1, -1]))
            steps.append(("split", sizes, axis, piece))
        elif kind == "chunk":
            steps.append(("chunk", draw(st.integers(1, 4)), axis, draw(st.integers(-2, 3))))
        elif kind == "pair":  # sizes that match, broadcast (one is 1) or clash, by N
            steps.append(("pair", axis, draw(SLICES), draw(SLICES)))
    steps.append(draw(POINTWISE))
    return Prog(ndim, tuple(steps))


# --- running and comparing ------------------------------------------------------------------


def data(prog, n):
    """The input at size ``n`` (deterministic in the size)."""
    return np.random.default_rng(1000 + n).standard_normal(prog.shape(n))


def run_eager(fn, arr):
    """("ok", value, grad) or ("error", exception) for eager symgrad."""
    try:
        t = sg.tensor(arr.copy(), requires_grad=True)
        v = fn(t)
        v.backward()
        g = np.zeros(arr.shape) if t.grad is None else t.grad.numpy().copy()
        return ("ok", float(v.item()), g)
    except Exception as e:  # noqa: BLE001 - any error is an outcome to compare
        return ("error", e)


def run_compiled(cf, arr):
    try:
        v, (g,) = cf.value_and_grad(arr)
        return ("ok", float(v), np.asarray(g))
    except Exception as e:  # noqa: BLE001 - any error is an outcome to compare
        return ("error", e)


def _family(e):
    """The builtin class the comparison is made on: eager may raise a symgrad subclass
    (`GuardedIndexError`), the compiled function its base class, or the other way round."""
    for cls in FAMILIES:
        if isinstance(e, cls):
            return cls
    return type(e)


def _describe(outcome):
    if outcome[0] == "error":
        e = outcome[1]
        return f"raises {type(e).__module__}.{type(e).__name__}: {e}"
    _, v, g = outcome
    return f"value={v!r} grad={np.array2string(g.ravel(), threshold=12, precision=6)}"


def _note(text):
    """`hypothesis.note` in a hypothesis test (printed with the falsifying example)."""
    if currently_in_test_context():
        note(text)


def check_call(prog, cf, n, n0):
    """Call ``cf`` (traced first at ``n0``) at size ``n`` and compare with eager."""
    arr = data(prog, n)
    saved = arr.copy()
    eager = run_eager(prog.fn(), arr)
    got = run_compiled(cf, arr)
    where = (f"\n  program: {prog.source}\n  traced at N0={n0}, called at N={n} "
             f"(x.shape={arr.shape}, backend={cf.backend})\n  eager:    {_describe(eager)}"
             f"\n  compiled: {_describe(got)}")
    _note(where)
    np.testing.assert_array_equal(arr, saved, err_msg="the compiled call changed its input"
                                  + where)
    if eager[0] == "error":
        assert got[0] == "error", "eager raises but the compiled function does not" + where
        assert isinstance(got[1], _family(eager[1])), "a different exception" + where
        return
    if got[0] == "error":
        raise AssertionError("the compiled function raises but eager does not" + where) \
            from got[1]
    _, v, g = got
    _, ev, eg = eager
    assert g.shape == eg.shape, f"gradient shape {g.shape} != {eg.shape}" + where
    np.testing.assert_allclose(v, ev, err_msg="value" + where, **TOL)
    np.testing.assert_allclose(g, eg, err_msg="gradient" + where, **TOL)


def call_sizes(n0, extra):
    """N0 first, then 0, 1, 2, N0-1, N0+1, 3*N0+5, the random ones, and N0 again."""
    sizes = [n0, 0, 1, 2, n0 - 1, n0 + 1, 3 * n0 + 5, *extra, n0]
    out = []
    for n in sizes:
        if n >= 0 and (not out or out[-1] != n):
            out.append(n)
    return out


def check_program(prog, n0, extra, backend):
    _note(repr(prog))
    cf = sg.compile(prog.fn(), wrt=[0], backend=backend)
    for n in call_sizes(n0, extra):
        check_call(prog, cf, n, n0)


TRACE_SIZES = st.one_of(st.integers(2, 12), st.sampled_from([0, 1, 37, 1000]))
EXTRA_SIZES = st.lists(st.integers(0, 40), max_size=2)

# The cases and one or two per guard kind (run by `TestGuardExamples`):
# (program, N0, extra call sizes).
EXAMPLES = [
    (Prog(1, (("index", 0, 5), ("pow2",))), 6, [4]),  # x[5] traced at 6, called at 4
    (Prog(1, (("slice", 0, None, 3, None), ("pow2",))), 10, []),  # x[:3] at 10, then 2
    (Prog(1, (("slice", 0, None, 100000, None), ("pow2",))), 12, []),
    (Prog(1, (("index", 0, -3), ("sin",))), 5, [4]),
    (Prog(2, (("ellipsis", 2), ("mul", 1.5))), 4, []),
    (Prog(1, (("reshape", (-1, 2)), ("index", 1, 1), ("pow2",))), 6, [5]),
    (Prog(1, (("split", [2, 4], 0, 1), ("sin",))), 6, [7]),
    (Prog(1, (("split", 2, 0, 2), ("pow2",))), 6, [4, 5]),
    (Prog(1, (("chunk", 3, 0, -1), ("pow2",))), 7, [8, 9]),
    (Prog(2, (("slice", 0, -5, None, 2), ("index", 1, -1), ("square",))), 8, [3]),
    (Prog(1, (("narrow", 0, 2, 3), ("pow2",))), 9, [4]),
    (Prog(1, (("pair", 0, (5, None, None), (None, 2, None)), ("sin",))), 6, [7, 8]),
    (Prog(1, (("pair", 0, (None, 3, None), (-1, None, None)), ("pow2",))), 5, []),
    # N0 == D: both sizes of x share one symbol; a later N != D retraces
    (Prog(2, (("index", 1, 1), ("index", 0, 0), ("mul", 1.5))), 3, []),
    (Prog(2, (("index", 0, 2), ("sin",))), 3, [5]),
    # empty views reshaped (a size-0 axis in the kernel's index arithmetic)
    (Prog(1, (("slice", 0, None, 0, None), ("reshape", (2, -1)), ("pow2",))), 5, []),
    (Prog(2, (("slice", 1, 0, 0, None), ("reshape", (-1,)), ("pow2",))), 5, []),
]


_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


class TestGuardFuzz:
    """The random programs (hypothesis). The fixed cases of `EXAMPLES` run separately, in
    `TestGuardExamples`: hypothesis would skip the random phase after a failing @example."""

    @settings(max_examples=100, **_SETTINGS)
    @given(prog=programs(), n0=TRACE_SIZES, extra=EXTRA_SIZES)
    def test_numpy_backend(self, prog, n0, extra):
        check_program(prog, n0, extra, "numpy")

    @pytest.mark.slow  # every new trace compiles Numba kernels
    # No shrinking: with a cold kernel cache every shrink step compiles kernels (minutes).
    # The falsifying program is printed as it was generated; shrink it with the numpy variant
    # or by hand.
    @settings(max_examples=40, phases=[Phase.explicit, Phase.reuse, Phase.generate],
              **_SETTINGS)
    @given(prog=programs(), n0=TRACE_SIZES, extra=EXTRA_SIZES)
    def test_numba_backend(self, prog, n0, extra):
        check_program(prog, n0, extra, "numba")


def _example_id(case):
    prog, n0, extra = case
    return f"{prog.source[10:]}@{n0}"


class TestGuardExamples:
    """The issue's cases and one per guard kind, at the sizes of `call_sizes`."""

    @pytest.mark.parametrize("case", EXAMPLES, ids=_example_id)
    def test_numpy_backend(self, case):
        check_program(*case, "numpy")

    @pytest.mark.slow  # compiles Numba kernels
    @pytest.mark.parametrize("case", EXAMPLES, ids=_example_id)
    def test_numba_backend(self, case):
        check_program(*case, "numba")


# --- the crash cases, in a subprocess ---------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symgrad
    src, sizes, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    cf = symgrad.compile(eval(src), wrt=[0], backend="numba")
    for n in sizes:
        x = np.random.default_rng(1000 + n).standard_normal(n)
        try:
            v, (g,) = cf.value_and_grad(x)
        except Exception as e:
            rec = {"n": n, "ok": False, "types": [c.__name__ for c in type(e).__mro__],
                   "msg": str(e)}
        else:
            path = f"{out}/grad_{n}.npy"
            np.save(path, np.asarray(g))
            rec = {"n": n, "ok": True, "value": float(v), "grad": path,
                   "backend": cf.backend}
        print(json.dumps(rec), flush=True)
""")

CRASH_CASES = {
    # name: (source, call sizes: the trace size first)
    "index5_traced6_called4": ("lambda x: x[5].pow(2).sum()", [6, 4]),
    "index1e6_traced_big_called3": ("lambda x: x[1000000].pow(2).sum()", [1000001, 3]),
    "slice100000_traced200000_called2": ("lambda x: x[:100000].pow(2).sum()", [200000, 2]),
    "slice3_traced10_called2": ("lambda x: x[:3].pow(2).sum()", [10, 2]),
}


@pytest.mark.slow  # a fresh interpreter that imports Numba and compiles kernels
@pytest.mark.parametrize("case", sorted(CRASH_CASES))
def test_crash_cases_in_subprocess(case, tmp_path):
    src, sizes = CRASH_CASES[case]
    env = dict(os.environ, PYTHONPATH=str(ROOT), SYMGRAD_CHECK="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, src, json.dumps(sizes), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    where = (f"\n  program: {src}, calls at N={sizes} (numba)\n  returncode: {proc.returncode}"
             f"\n  stdout: {proc.stdout[-2000:]}\n  stderr: {proc.stderr[-3000:]}")
    assert proc.returncode >= 0, "the subprocess was killed by a signal (a crash)" + where
    assert proc.returncode == 0, "the subprocess failed" + where
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["n"] for r in records] == sizes, "not every call reported" + where
    fn = eval(src, {"sg": sg})  # noqa: S307 - our own source
    for rec in records:
        n = rec["n"]
        eager = run_eager(fn, np.random.default_rng(1000 + n).standard_normal(n))
        at = f"\n  at N={n}: eager {_describe(eager)}\n  compiled: {rec}" + where
        if eager[0] == "error":
            assert not rec["ok"], "eager raises but the compiled function does not" + at
            assert _family(eager[1]).__name__ in rec["types"], "a different exception" + at
            continue
        assert rec["ok"], "the compiled function raises but eager does not" + at
        assert rec["backend"] == "numba", at
        g = np.load(rec["grad"])
        assert g.shape == eager[2].shape, at
        np.testing.assert_allclose(rec["value"], eager[1], err_msg="value" + at, **TOL)
        np.testing.assert_allclose(g, eager[2], err_msg="gradient" + at, **TOL)
