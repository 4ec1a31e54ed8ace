"""Render a schedule as a Python module: Numba kernels plus a plain-Python driver ``run``.

This is the only place that knows Python syntax (with `codegen.loop_ir.pyexpr` for expressions). The
module reads top to bottom: a header naming the program, its symbolic sizes and the cache key;
the helpers it uses; one ``@njit`` function per kernel (`codegen.njit`); the driver.
"""

from __future__ import annotations

import sympy

from codegen.loop_ir.loops import (
    Alloc,
    Assign,
    Comment,
    Dot,
    FlatView,
    If,
    Loop,
    MatView,
    Store,
    Update,
    View,
)
from codegen.loop_ir.pyexpr import KernelPrinter
from codegen.render import split
from codegen.render.prelude import HELPER_SOURCE
from codegen.runtime import ONE_CHUNK
from codegen.schedule import CallStep, FallbackStep, PassStep
from codegen.vmath import FUNCTIONS as VECTOR_MATH
from symgrad.ops import Op

FASTMATH = '{"nsz", "arcp", "contract", "reassoc"}'
# ``no_cfunc_wrapper``: kernels are called from Python (their CPython wrapper) and from other
# kernels (natively), never as C function pointers; Numba would otherwise lower a C-callable
# wrapper for each (a 24-array no-op function: 0.19 s of Numba passes with it, 0.16 s without)
JIT_FLAGS = (f'nogil=True, cache=True, error_model="numpy", fastmath={FASTMATH}, '
             'no_cfunc_wrapper=True')
KEY_LINE = "Cache key: "


def jit_flags() -> str:
    """Numba's flags for every kernel; under ``SYMGRAD_CHECK=1`` (on in the tests) also
    ``boundscheck=True``, so that an out-of-range access in a generated kernel is an
    IndexError, never a silent read."""
    from symgrad import debug
    return JIT_FLAGS + (", boundscheck=True" if debug.checking() else "")
_NP_DTYPE = {"bool": "np.bool_"}
# dtypes whose scalars Numba returns as Python objects of the same NumPy dtype
_BOXED_EXACTLY = ("float64", "int64", "bool")


def matmul_name(trans_a: bool, trans_b: bool, accumulate: bool) -> str:
    """The `codegen.blas` helper computing ``out (+)= op(a) @ op(b)``."""
    ops = ("t" if trans_a else "n") + ("t" if trans_b else "n")
    return f"matmul_acc_{ops}" if accumulate else f"matmul_{ops}"


def np_dtype(name: str) -> str:
    return _NP_DTYPE.get(name, f"np.{name}")


# CPython 3.11 passes a call's arguments on the stack up to this many, beyond as a tuple
# (``f(*args)``: its compiler's STACK_USE_GUIDELINE), which Numba cannot inline
_INLINE_ARGS = 30


class Renderer:
    """Turns one `Schedule` into module source."""

    def __init__(self, schedule):
        self.s = schedule
        self.printer = KernelPrinter()
        self.one_chunk = {st.kernel: st for st in schedule.steps if self._one_chunk_entry(st)}
        self.matmuls = set()  # codegen.blas helpers used
        self.runtime = set()  # codegen.runtime functions the kernels call
        self.opaque_bounds = False  # constant loop bounds as `codegen.runtime.opaque` (glue)
        self.splitting = split.wanted(schedule)
        self.tails = []  # `split.Tail`s of the kernels split in two

    def expr(self, e) -> str:
        return self.printer.doprint(sympy.sympify(e))

    def index(self, idx) -> str:
        if not idx:
            return "()"
        return ", ".join(self.expr(i) for i in idx)

    def shape(self, shape) -> str:
        items = [self.expr(d) for d in shape]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"

    def matrix(self, ref) -> str:
        """A product operand as a C-contiguous array (its transposition is in the helper)."""
        name, rows, _, contig = ref
        if rows is None:
            text = name
        elif isinstance(rows, tuple):
            text = f"{name}[{self.expr(rows[0])}:{self.expr(rows[1])}]"
        else:  # one row of a stack of matrices
            text = f"{name}[{self.expr(rows)}]"
        if contig:  # a no-op for C-contiguous arrays; BLAS needs contiguous operands
            self.runtime.add("contiguous")
            text = f"contiguous({text})"
        return text

    # --- statements ---------------------------------------------------------------------------
    def stmts(self, body, depth) -> list:
        pad = "    " * depth
        out = []
        for s in body:
            out += [pad + line for line in self.stmt(s, depth)]
        return out

    def stmt(self, s, depth) -> list:
        """Source lines of statement ``s`` (relative indentation), by `STATEMENTS`."""
        printer = STATEMENTS.get(type(s))
        if printer is None:
            raise TypeError(f"cannot render {s!r}")
        return printer(self, s)

    def alloc(self, s, in_kernel=False, shape=None) -> str:
        """A new array; uninitialised in a kernel by `codegen.runtime.empty` (emitted inline
        when compiled), in the driver by ``np.empty``. ``shape``: its text, if not s.shape."""
        dt = np_dtype(s.dtype)
        shape = self.shape(s.shape) if shape is None else shape
        if s.fill is None:
            if in_kernel:
                self.runtime.add("empty")
            empty = "empty" if in_kernel else "np.empty"
            return f"{s.name} = {empty}({shape}, {dt})"
        if getattr(s.fill, "is_zero", False):
            return f"{s.name} = np.zeros({shape}, {dt})"
        return f"{s.name} = np.full({shape}, {self.expr(s.fill)}, {dt})"

    # --- kernels and driver ---------------------------------------------------------------------
    def tail_call(self, tail) -> str:
        """The call of a split kernel's sub-kernel; arrays it only reads made C-contiguous."""
        if tail.wrapped:
            self.runtime.add("contiguous")
        args = [f"contiguous({p})" if p in tail.wrapped else p for p in tail.params]
        return f"{tail.name}{split.CALL}({', '.join(args)})"

    def _one_chunk_entry(self, st) -> bool:
        """Whether pass ``st`` gets a one-chunk entry (`one_chunk_entry`): a pass that finishes
        the program itself, whose partial sums need no fill and whose arguments give every
        size of them. Not when the entry's call of the pass would take more than 30 arguments:
        CPython compiles such a call as ``f(*args)``, which Numba cannot inline."""
        if not isinstance(st, PassStep) or not st.results or st.spills or \
                self.s.parallel == "prange" or any(init is not None for *_, init in st.parts):
            return False
        if 4 + len(st.args) > _INLINE_ARGS:
            return False
        given = set(_entry_args(st))
        needed = set()
        for _, shape, _, _ in st.parts:
            for d in shape:
                needed |= {str(x) for x in getattr(sympy.sympify(d), "free_symbols", ())}
        return needed <= given

    def one_chunk_entry(self, st) -> list:
        """``<pass>_one(inputs, sizes)``: the pass on one chunk, then the finish, in one Numba
        call that makes its own partial-sum buffers. A small batch's call costs a dispatch of
        the inputs only (13 arguments for W1 were 0.5 us more to dispatch than its 4), and no
        buffers made in Python. The pass kernel is inlined into it (``inline="always"``)."""
        lines = ["@njit(**JIT)", f"def {st.kernel}{ONE_CHUNK}({', '.join(_entry_args(st))}):",
                 f'    """{st.kernel} on one chunk, then the whole-array work after it."""']
        for name, shape, dtype, init in st.parts:
            lines.append("    " + self.alloc(Alloc(name, (1,) + tuple(shape), dtype, init),
                                            in_kernel=True))
        lines.append(f"    return {st.kernel}(0, 1, 1, True, {', '.join(st.args)})")
        return lines

    def kernel(self, k) -> list:
        tail = None
        if self.splitting and k.kind == "pass":
            # the helper compiles the glue kernels anyway, and earlier tails
            busy = sum(split.cost(g.body) + split.fixed_cost(g) for g in self.s.kernels
                       if g.kind == "glue")
            busy += sum(split.cost(t.loop.body[t.start:]) for t in self.tails)
            tail = split.plan(self, k, *self._param_types(k), helper_cost=busy)
        if tail is None:
            return self._kernel(k)
        self.tails.append(tail)
        lines = self.tail_kernel(k, tail) + ["", ""]
        body = tail.loop.body
        tail.loop.body = body[:tail.start] + [split.TailCall(tail)]
        try:
            return lines + self._kernel(k)
        finally:
            tail.loop.body = body

    def tail_kernel(self, k, tail) -> list:
        """The sub-kernel of ``tail`` and the name ``k`` calls it by (`codegen.render.split`)."""
        first = self.stmts(tail.loop.body[tail.start:tail.start + 1], 0)[0].strip()
        lines = ["@njit(no_cpython_wrapper=True, **JIT)",
                 f"def {tail.name}({', '.join(tail.params)}):",
                 f'    """{k.name}\'s loop over {tail.loop.var} from `{first}` on, compiled '
                 'apart: called by address (codegen.render.split)."""']
        lines += self.stmts(tail.loop.body[tail.start:], 1)
        return lines + ["", "", f'{tail.name}{split.CALL} = subkernel({tail.name}, '
                                f'"{tail.signature()}", "{tail.name}", __file__)']

    def _param_types(self, k):
        """(the parameters pass kernel ``k`` writes, parameter -> (dtype, rank or None))."""
        s = self.s
        step = next((st for st in s.steps if isinstance(st, PassStep) and st.kernel == k.name),
                    None)
        if step is None:
            return set(), {}
        types = {name: ("int64", None) for name in ("c0", "c1", "nch")}
        types["finish"] = ("bool", None)
        types.update({str(name): ("size", None) for name in s.sizes.values()})
        for n in s.an.nodes:
            name = s.names.get(id(n))
            if name is not None:
                types[name] = (n.dtype.name, len(n.shape) or None)
        for name, value in s.consts.items():
            types[name] = (value.dtype.name, value.ndim or None)
        writable = set(s.given)
        for name, shape, dtype, _ in step.parts:
            types[name] = (dtype, 1 + len(shape))
            writable.add(name)
        for name, shape, dtype in step.spills:
            types[name] = (dtype, len(shape) or None)
            writable.add(name)
        for name, (shape, dtype) in s.given.items():
            types[name] = (dtype, len(shape) or None)
        return writable, {p: types[p] for p in k.params if p in types}

    def _kernel(self, k) -> list:
        deco = "@njit(parallel=True, **JIT)" if k.parallel else "@njit(**JIT)"
        if k.name in self.one_chunk:  # inlined into its one-chunk entry
            deco = '@njit(inline="always", **JIT)'
        lines = [deco, f"def {k.name}({', '.join(k.params)}):",
                 f'    """{k.doc}"""']
        # a glue kernel's loops run over partial sums and parameter-sized arrays: not worth
        # LLVM's unrolling and specialising for their constant trip counts
        self.opaque_bounds = k.kind == "glue"
        try:
            lines += self.stmts(k.body, 1)
        finally:
            self.opaque_bounds = False
        if len(k.returns) == 1:
            lines.append(f"    return {k.returns[0]}")
        elif k.returns:
            lines.append(f"    return {', '.join(k.returns)}")
        if k.name in self.one_chunk:
            lines += ["", ""] + self.one_chunk_entry(self.one_chunk[k.name])
        return lines

    def driver(self) -> list:
        s = self.s
        names = [s.names[id(n)] for n in s.program.inputs]
        lines = ["def run(inputs):",
                 f'    """({", ".join(names)}) -> ({", ".join(s.outputs)})."""']
        if len(names) == 1:
            lines.append(f"    ({names[0]},) = inputs")
        elif names:
            lines.append(f"    {', '.join(names)} = inputs")
        lines += ["    " + line for line in self.scalar_inputs(names)]
        for sym, (pos, axis) in s.program.sizes.items():
            lines.append(f"    {s.sizes[sym]} = {names[pos]}.shape[{axis}]")
        lines += ["    " + line for line in self.given_outputs()]
        if s.fallbacks:
            pairs = ", ".join(f'"{sym}": {s.sizes[sym]}' for sym in s.program.sizes)
            lines.append(f"    sizes = {{{pairs}}}")
        for step in s.steps:
            lines += ["    " + line for line in self.step(step)]
        lines.append(f"    return [{', '.join(self.outputs())}]")
        return lines + ["", ""] + self.binder(names) + self.jit_driver(names)

    def jit_driver(self, names) -> list:
        """``run_jit``: a training step's driver as one Numba function (every pass on one
        chunk), returning the outputs as a tuple, so that a compiled loop of steps
        (`symgrad.fit_loop`) calls it without Python in between. Only for a training step
        (a program with ``batch_outputs``) without NumPy fallbacks or ``prange`` kernels."""
        s = self.s
        if s.program.batch_outputs is None or s.fallbacks or s.parallel == "prange":
            return []
        body = []
        for sym, (pos, axis) in s.program.sizes.items():
            body.append(f"{s.sizes[sym]} = {names[pos]}.shape[{axis}]")
        for st in s.steps:
            if not isinstance(st, PassStep):
                body += self.step(st)
            elif st.kernel in self.one_chunk:
                body.append(f"{', '.join(st.results)} = {_entry_call(st)}")
            else:
                for name, shape, dtype, init in st.parts:
                    body.append(self.alloc(Alloc(name, (1,) + tuple(shape), dtype, init),
                                           in_kernel=True))
                for name, shape, dtype in st.spills:
                    body.append(self.alloc(Alloc(name, tuple(shape), dtype, None),
                                           in_kernel=True))
                # run-time numbers, not literals: a literal argument would compile the pass
                # kernel again, specialised to it (seconds for a large pass)
                finish = "one == 1, " if st.results else ""
                call = f"{st.kernel}(one - 1, one, one, {finish}{', '.join(st.args)})"
                body.append(f"{', '.join(st.results)} = {call}" if st.results else call)
        outs = [f"{np_dtype(n.dtype.name)}({o})" if n.shape == () and n.dtype.name != "float64"
                else o for o, n in zip(s.outputs, s.program.outputs)]  # a float64 accumulator
        body.append(f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        given = list(s.given)
        positions = ", ".join(str(s.outputs.index(name)) for name in given)
        return ["", "", "# run_jit's arguments after the inputs: the arrays it writes these "
                "outputs into (positions in its tuple)",
                f"RUN_JIT_GIVEN = ({positions}{',' if len(given) == 1 else ''})", "", "",
                "@njit(**JIT)", f"def run_jit({', '.join(['one'] + names + given)}):",
                '    """`run` in one Numba call (one chunk per pass: ``one`` is 1), outputs as '
                'a tuple; the array outputs of whole-array work written into the arrays given '
                'after the inputs."""',
                *["    " + line for line in body]]

    def given_outputs(self) -> list:
        """The driver's new arrays for the outputs the kernels write into (`Schedule.given`)."""
        return [f"{name} = np.empty({self.shape(shape)}, {np_dtype(dtype)})"
                for name, (shape, dtype) in self.s.given.items()]

    def scalar_inputs(self, names) -> list:
        """Rank-0 inputs as scalars (the kernels take them so); 0-d arrays are unwrapped."""
        return [f"{name} = {name}[()] if type({name}) is np.ndarray else {name}"
                for name, n in zip(names, self.s.program.inputs) if n.shape == ()]

    def outputs(self) -> list:
        """The driver's returned expressions."""
        s = self.s
        outs = list(s.outputs)
        for k, n in enumerate(s.program.outputs):
            if n.shape == () and n.dtype.name not in _BOXED_EXACTLY:
                outs[k] = f"{np_dtype(n.dtype.name)}({outs[k]})"  # Numba boxes it as a float
            elif n.shape != () and (n.op in (Op.INPUT, Op.CONST) or outs[k] in s.fallbacks
                                    or outs[k] in s.outputs[:k]):
                outs[k] = f"np.array({outs[k]})"  # a copy: never an input, a constant, or
                # one array for two outputs (two equal gradients are two arrays)
        return outs

    def binder(self, names) -> list:
        """``bind(shapes)``: `run` for inputs of exactly these shapes, taking them as separate
        arguments, its sizes, chunk count and buffer shapes worked out once; None when a pass
        would take several chunks (or a step is a NumPy fallback). A call then costs only
        the buffers and the kernel calls (what a repeated small call spends its time on)."""
        s = self.s
        lines = ["def bind(shapes):",
                 '    """`run` for inputs of these shapes, as arguments (one chunk per pass); '
                 'or None."""']
        if s.fallbacks or s.parallel == "prange":
            return lines + ["    return None"]
        for sym, (pos, axis) in s.program.sizes.items():
            lines.append(f"    {s.sizes[sym]} = shapes[{pos}][{axis}]")
        body, pooled = self.scalar_inputs(names) + self.given_outputs(), []
        for st in s.steps:
            if isinstance(st, PassStep):
                lines.append(f"    if chunks({self.expr(st.work)}) != 1:")
                lines.append("        return None")
                if st.kernel in self.one_chunk:
                    body.append(f"{', '.join(st.results)} = {_entry_call(st)}")
                    continue
                for name, shape, dtype, init in st.parts:
                    lines.append(f"    {name}_shape = {self.shape((1,) + tuple(shape))}")
                    if init is None:  # fully written by the pass before it is read: reused
                        pooled.append((name, dtype))
                    else:
                        body.append(self.alloc(Alloc(name, (), dtype, init),
                                               shape=f"{name}_shape"))
                for name, shape, dtype in st.spills:
                    lines.append(f"    {name}_shape = {self.shape(tuple(shape))}")
                    body.append(f"{name} = np.empty({name}_shape, {np_dtype(dtype)})")
                args = ", ".join(st.args)
                if st.results:
                    body.append(f"{', '.join(st.results)} = {st.kernel}(0, 1, 1, True, {args})")
                else:
                    body.append(f"{st.kernel}(0, 1, 1, {args})")
            else:
                body += self.step(st)
        if pooled:  # chunk partial sums: each call takes a free set (any thread), then gives
            # it back; none is ever an output
            parts = ", ".join(p for p, _ in pooled)
            take = ["try:", f"    {parts}{',' if len(pooled) == 1 else ''} = free.pop()",
                    "except IndexError:"]
            take += [f"    {p} = np.empty({p}_shape, {np_dtype(d)})" for p, d in pooled]
            body = take + body
            body += [f"free.append(({parts}{',' if len(pooled) == 1 else ''}))"]
            lines.append("    free = []")
        body.append(f"return [{', '.join(self.outputs())}]")
        lines.append(f"    def run_bound({', '.join(names)}):")
        lines += ["        " + line for line in body]
        return lines + ["    return run_bound"]

    def step(self, st) -> list:
        if isinstance(st, FallbackStep):
            return [f"{st.result} = fallback_{st.result}([{', '.join(st.args)}], sizes)"]
        if isinstance(st, CallStep):
            call = f"{st.kernel}({', '.join(st.args)})"
            if not st.results:
                return [call]
            if len(st.results) == 1:
                return [f"{st.results[0]} = {call}"]
            return [f"{', '.join(st.results)} = {call}"]
        assert isinstance(st, PassStep)
        out = [f"nch = chunks({self.expr(st.work)})"]
        for name, shape, dtype, init in st.parts:
            out.append(self.alloc(Alloc(name, ("nch",) + tuple(shape), dtype, init)))
        for name, shape, dtype in st.spills:
            out.append(f"{name} = np.empty({self.shape(shape)}, {np_dtype(dtype)})")
        args = ", ".join(st.args)
        if self.s.parallel == "prange":
            return out + [f"{st.kernel}(0, nch, nch, {args})"]
        if not st.results:
            return out + ["if nch == 1:", f"    {st.kernel}(0, 1, 1, {args})", "else:",
                          f"    run_chunks({st.kernel}, nch, {args})"]
        # the kernel finishes the stage too (the whole-array work after the pass): in the
        # same call when there is one chunk, else in one more call after all chunks ran
        res = ", ".join(st.results)  # one name: the kernel returns it bare
        if st.kernel in self.one_chunk:  # one chunk: the entry makes its own buffers
            return [f"nch = chunks({self.expr(st.work)})", "if nch == 1:",
                    f"    {res} = {_entry_call(st)}", "else:",
                    *["    " + line for line in out[1:]],
                    f"    run_chunks({st.kernel}, nch, False, {args})",
                    f"    {res} = {st.kernel}(nch, nch, nch, True, {args})"]
        return out + ["if nch == 1:", f"    {res} = {st.kernel}(0, 1, 1, True, {args})",
                      "else:", f"    run_chunks({st.kernel}, nch, False, {args})",
                      f"    {res} = {st.kernel}(nch, nch, nch, True, {args})"]

    def header(self) -> list:
        s = self.s
        names = [s.names[id(n)] for n in s.program.inputs]
        sizes = ", ".join(f"{s.sizes[sym]} = {names[pos]}.shape[{axis}]"
                          for sym, (pos, axis) in s.program.sizes.items()) or "none (static)"
        ir = [("    " + line).rstrip() for line in str(s.program).splitlines()]
        lines = ['"""symgrad kernels for the program below '
                 f'({len(s.kernels)} kernel(s), {len(s.an.nodes)} nodes).', "",
                 *ir, "", f"Sizes: {sizes}",
                 f"Batch: {s.an.batch_size if s.an.batch_size is not None else 'none'}"]
        if s.consts:
            lines.append("Constants bound by the loader: " + ", ".join(
                f"{k} {v.dtype}{list(v.shape)}" for k, v in s.consts.items()))
        if s.fallbacks:
            lines.append("NumPy fallbacks bound by the loader: " + ", ".join(
                f"fallback_{k} ({n.op.value})" for k, n in s.fallbacks.items()))
        return lines

    def source(self) -> str:
        """The module text without the cache key line (the key is a hash of this text)."""
        kernels = []
        for k in self.s.kernels:
            kernels += [""] + self.kernel(k) + [""]
        driver = self.driver()
        used = set(self.printer.used)
        helpers = []
        for name in HELPER_SOURCE:
            if name in used:
                helpers += ["", "@njit(inline=\"always\", **JIT)",
                            *HELPER_SOURCE[name].strip().splitlines(), ""]
        imports = ["import numba", "import numpy as np", "", "from codegen.njit import njit"]
        rt = ["chunks", "run_chunks"] if any(isinstance(t, PassStep) for t in self.s.steps) else []
        rt += sorted(self.runtime)
        vector_math = sorted(used & set(VECTOR_MATH))
        if self.matmuls:
            imports += [f"from codegen.blas import {', '.join(sorted(self.matmuls))}"]
        if rt:
            imports += [f"from codegen.runtime import {', '.join(rt)}"]
        if self.tails:
            imports += ["from codegen.native_call import subkernel"]
        if vector_math:  # libm-free, so that loops vectorise; emitted as LLVM IR when compiled
            imports += [f"from codegen.vmath import {', '.join(vector_math)}"]
        if self.matmuls or rt or vector_math or self.tails:
            imports.append("")
        flags = [f"JIT = dict({jit_flags()})", ""]
        body = self.header() + ['"""', ""] + imports + flags + helpers + kernels + [""] + driver
        return "\n".join(body) + "\n"


def _loop(r, s):
    start, stop = r.expr(s.start), r.expr(s.stop)
    if r.opaque_bounds and sympy.sympify(s.stop).is_Integer:
        r.runtime.add("opaque")
        stop = f"opaque({stop})"
    rng = stop if start == "0" else f"{start}, {stop}"
    if s.step != 1:
        rng = f"{start}, {stop}, {s.step}"
    head = f"for {s.var} in {'numba.prange' if s.parallel else 'range'}({rng}):"
    return [head] + (r.stmts(s.body, 1) or ["    pass"])


def _if(r, s):
    out = [f"if {s.cond}:"] + (r.stmts(s.body, 1) or ["    pass"])
    if s.orelse:
        out += ["else:"] + r.stmts(s.orelse, 1)
    return out


def _update(r, s):
    at = s.target if s.index is None else f"{s.target}[{r.index(s.index)}]"
    if s.op == "sum":
        return [f"{at} += {r.expr(s.expr)}"]
    fn = "maximum" if s.op == "max" else "minimum"
    r.printer.used.add(fn)
    return [f"{at} = {fn}({at}, {r.expr(s.expr)})"]


def _view(r, s):
    items = [":" if i is None else
             f"{r.expr(i[0])}:{r.expr(i[1])}" if isinstance(i, tuple) else
             r.expr(i) for i in s.index]
    while len(items) > 1 and items[-1] == ":":
        items.pop()
    return [f"{s.name} = {s.array}[{', '.join(items)}]"]


def _mat_view(r, s):
    items = [f"{r.expr(i[0])}:{r.expr(i[1])}" if isinstance(i, tuple) else r.expr(i)
             for i in s.index]
    text = s.array + (f"[{', '.join(items)}]" if items else "")
    if s.contiguous:
        r.runtime.add("contiguous")
        text = f"contiguous({text})"
    return [f"{s.name} = {_reshaped(r, text, s.shape)}"]


def _flat_view(r, s):
    return [f"{s.name} = {_reshaped(r, f'{s.array}[0:{r.expr(s.rows)}]', (s.size,))}"]


def _reshaped(r, text, shape) -> str:
    """``text`` (a C-contiguous array) seen with ``shape``: `codegen.runtime.reshaped`."""
    r.runtime.add("reshaped")
    return f"reshaped({text}, {r.shape(shape)})"


def _dot(r, s):
    assert not s.out[2], "a product's output is never transposed"
    fn = matmul_name(s.a[2], s.b[2], s.accumulate)
    r.matmuls.add(fn)
    return [f"{fn}({r.matrix(s.a)}, {r.matrix(s.b)}, {r.matrix(s.out)})"]


# statement type -> its Python source lines (``loops.PSEUDO`` is the pseudo-code twin)
STATEMENTS = {
    Loop: _loop,
    If: _if,
    Assign: lambda r, s: [f"{s.target} = {r.expr(s.expr)}"],
    Store: lambda r, s: [f"{s.array}[{r.index(s.index)}] = {r.expr(s.expr)}"],
    Update: _update,
    Alloc: lambda r, s: [r.alloc(s, in_kernel=True)],
    View: _view,
    FlatView: _flat_view,
    MatView: _mat_view,
    Dot: _dot,
    Comment: lambda r, s: [f"# {s.text}"],
    split.TailCall: lambda r, s: [r.tail_call(s.tail)],
}


def _entry_args(st) -> list:
    """The arguments of pass ``st``'s one-chunk entry: the pass's, less its partial sums."""
    parts = {p[0] for p in st.parts}
    return [a for a in st.args if a not in parts]


def _entry_call(st) -> str:
    return f"{st.kernel}{ONE_CHUNK}({', '.join(_entry_args(st))})"


def with_key(source: str, key: str) -> str:
    """The final module text: the cache key inserted as the last header line."""
    head, sep, rest = source.partition('\n"""\n')
    return f"{head}\n{KEY_LINE}{key}{sep}{rest}"


def render(schedule) -> str:
    """Module source for ``schedule`` (without its cache key line)."""
    return Renderer(schedule).source()
