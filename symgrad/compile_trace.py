"""One cached trace of a compiled function: its programs at each stage, which inputs are
differentiated, how call arguments bind to program inputs, and the back-end runners."""

from __future__ import annotations

import re
import time
import types

import numpy as np
import sympy

from . import debug
from .compile_args import ArgumentError
from .guards import first_failure
from .ir.node import make_node
from .ir.program import Program
from .ops import Op
from .tensor import Tensor


def _ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s and not s[0].isdigit() else "_" + s


def name_hints(fn, wrt) -> dict:
    """Readable names for tensors a function captures: id(tensor) -> name."""
    hints, seen = {}, set()

    def add_module(prefix, module):
        for pname, p in module.named_parameters():
            hints.setdefault(id(p), _ident(f"{prefix}_{pname}" if prefix else pname))

    def scan(f, depth):
        code = getattr(f, "__code__", None)
        if code is None or id(f) in seen or depth > 4:
            return
        seen.add(id(f))
        values = {}
        for var, cell in zip(code.co_freevars, f.__closure__ or ()):
            try:
                values[var] = cell.cell_contents
            except ValueError:
                continue
        for var in code.co_names:
            if var in getattr(f, "__globals__", {}):
                values.setdefault(var, f.__globals__[var])
        for var, v in values.items():
            if isinstance(v, Tensor):
                hints.setdefault(id(v), _ident(var))
            elif _is_module(v):
                add_module(var, v)
            elif isinstance(v, types.FunctionType):
                scan(v, depth + 1)

    scan(fn, 0)
    if _is_module(wrt):
        add_module("param", wrt)
    return hints


def _is_module(v) -> bool:
    return hasattr(v, "named_parameters") and hasattr(v, "forward")


def _first_use(program) -> dict:
    """INPUT node id -> serial of its first consumer (the order the function used it)."""
    first = {}
    for n in program.nodes:
        for i in n.inputs:
            if i.op is Op.INPUT:
                first[id(i)] = min(first.get(id(i), n.serial), n.serial)
    return first


class CompiledTrace:
    """A trace for one input signature, with lazily built stages and runners."""

    @classmethod
    def create(cls, cf, prepared, hints, symbolic):
        from .trace import trace
        specs = [(a.name, a.shape, a.dtype, True) for a in prepared]
        t0 = time.perf_counter()
        try:
            program, captured, returns_tuple = trace(cf.fn, specs, hints, symbolic)
        except (RuntimeError, ValueError, IndexError) as e:
            from .trace import TraceError
            if isinstance(e, TraceError | ArgumentError):
                raise
            sig = ", ".join(f"{a.name}: {a.dtype.name}{list(a.shape)}" for a in prepared)
            if len(e.args) <= 1:  # the same error, once, with its traceback to the user's line
                e.args = (f"{e}\n(while tracing {cf.__name__}({sig}))",)
            e.symgrad_while_tracing = True
            raise
        self = cls()
        self.cf, self.traced, self.captured = cf, program, captured
        self.returns_tuple = returns_tuple
        self.n_args = len(prepared)
        self.arg_names = [a.name for a in prepared]
        self.symbolic = symbolic
        self.arg_shapes = [tuple(a.shape) for a in prepared]
        self.timings = {"trace": time.perf_counter() - t0}
        self._resolve_wrt(prepared)
        self._stages, self._runners, self._step_rules = {}, {}, {}
        self.step_layouts = {}  # id(optimizer) -> compile_step.StepLayout
        # a literal size 0 anywhere (an empty batch, an empty slice: symbols stand for sizes
        # >= 2 and sizes computed from them are guarded >= 1): run op by op, see `_runner`
        self.empty = any(d == 0 for n in program.nodes for d in n.shape)
        if debug.level() >= 2:
            debug.log(2, f"traced program:\n{self.traced}")
        self.program_at("traced")  # written to $SYMGRAD_DUMP when set
        return self

    # --- which inputs are differentiated ----------------------------------------------------
    def _resolve_wrt(self, prepared):
        spec, program = self.cf.wrt_spec, self.traced
        inputs = list(program.inputs)
        refs = [("arg", k) for k in range(self.n_args)] + [("tensor", t) for t in self.captured]
        chosen = []
        if spec is None:
            first = _first_use(program)
            cands = [k for k, r in enumerate(refs) if _requires_grad(r, prepared)
                     and inputs[k].dtype.is_floating_point]
            if not cands:
                # Nothing requires grad (NumPy arrays, Python numbers): differentiate with
                # respect to every floating point argument, as jax.grad would.
                cands = [k for k in range(self.n_args) if inputs[k].dtype.is_floating_point]
            chosen = sorted(cands, key=lambda k: first.get(id(inputs[k]), 1 << 60))
        else:
            for item in _as_items(spec):
                chosen.append(self._position(item, refs, inputs, prepared))
        self.program = Program(inputs, program.outputs, program.output_names, program.sizes,
                               "traced", guards=program.guards)
        self.wrt_positions = chosen
        self.wrt_refs = [refs[k] for k in chosen]
        self.inputs_extra = inputs[len(refs):]
        self.wrt_dtypes = [inputs[k].dtype for k in chosen]
        self.wrt_names = [inputs[k].attr("name") for k in chosen]
        self._inputs, self._refs = inputs, refs

    def _position(self, item, refs, inputs, prepared):
        if isinstance(item, str):
            if item not in self.arg_names:
                raise ArgumentError(f"wrt names '{item}', which is not an argument of "
                                    f"{self.cf.__name__} (arguments: {self.arg_names})")
            item = self.arg_names.index(item)
        if isinstance(item, int):
            if not -self.n_args <= item < self.n_args:
                raise ArgumentError(f"wrt index {item} is out of range for {self.n_args} "
                                    "arguments")
            k = item % self.n_args
            if not inputs[k].dtype.is_floating_point:
                raise ArgumentError(f"wrt names argument '{self.arg_names[k]}' of dtype "
                                    f"{inputs[k].dtype.name}: only floating point inputs can be "
                                    "differentiated")
            return k
        if isinstance(item, Tensor):
            for k, r in enumerate(refs):
                if (r[0] == "tensor" and r[1] is item) or (
                        r[0] == "arg" and prepared[r[1]].original is item):
                    return k
            # Not used by the function: its gradient is zero.
            node = make_node(Op.INPUT, (), {"name": f"unused{len(refs)}"},
                             _concrete(item.shape), item.dtype)
            refs.append(("tensor", item))
            inputs.append(node)
            return len(refs) - 1
        raise ArgumentError(f"wrt entries must be argument names, indices, tensors or modules; "
                            f"got {type(item).__name__}")

    def wrt_tensors(self, args) -> list:
        """The tensors whose .grad `backward` adds into (None for non-tensor arguments)."""
        out = []
        for kind, v in self.wrt_refs:
            if kind == "arg":
                a = args[v]
                out.append(a if isinstance(a, Tensor) else None)
            else:
                out.append(v)
        return out

    # --- binding call arguments ---------------------------------------------------------------
    def bind(self, prepared):
        """Arrays for the program inputs, or None if this trace does not fit the call."""
        if len(prepared) != self.n_args:
            return None
        if not self.symbolic and [tuple(a.shape) for a in prepared] != self.arg_shapes:
            return None
        arrays = [a.array for a in prepared]
        env = {}
        for k, r in enumerate(self._refs):
            node = self._inputs[k]
            arr = arrays[k] if r[0] == "arg" else r[1]._data
            if r[0] == "tensor":
                if r[1].dtype != node.dtype:
                    return None
                arrays.append(arr)
            if arr.ndim != len(node.shape):
                return None
            for d, s in zip(arr.shape, node.shape):
                if isinstance(s, sympy.Symbol):
                    if env.setdefault(s, d) != d or d <= 1:  # 0 and 1: a concrete trace
                        return None
                elif d != s:
                    return None
        failed = first_failure(self.program.guards, env)
        if failed is not None:
            sizes = ", ".join(f"{s}={env[s]}" for s in sorted(
                failed.margin.free_symbols, key=str) if s in env)
            debug.log(1, f"{self.cf.__name__}: guard `{failed}` fails at {sizes}; another trace")
            return None
        return arrays

    def describe_mismatch(self, prepared) -> str | None:
        """Why ``prepared`` does not fit this trace, naming the argument (None if it does)."""
        if len(prepared) != self.n_args:
            return None
        for k, a in enumerate(prepared):
            node = self._inputs[k]
            if a.dtype != node.dtype:
                return (f"argument '{a.name}' has dtype {a.dtype.name}, but "
                        f"{self.cf.__name__} was traced (and works) with {node.dtype.name}")
            if a.array.ndim != len(node.shape):
                return (f"argument '{a.name}' has rank {a.array.ndim} (shape {list(a.shape)}), "
                        f"but {self.cf.__name__} was traced with rank {len(node.shape)} "
                        f"(shape {[str(s) for s in node.shape]})")
        # Captured tensors (parameters) come first: their sizes are the reference.
        shapes = [(self._inputs[k].attr("name"), r[1].shape, "tensor")
                  for k, r in enumerate(self._refs) if r[0] == "tensor"]
        shapes += [(a.name, a.shape, "argument") for a in prepared]
        nodes = [self._inputs[k] for k, r in enumerate(self._refs) if r[0] == "tensor"]
        nodes += self._inputs[:self.n_args]
        seen = {}
        for (name, shape, kind), node in zip(shapes, nodes):
            for axis, (d, s) in enumerate(zip(shape, node.shape)):
                if not isinstance(s, sympy.Symbol):
                    continue
                if s in seen and seen[s][0] != d and seen[s][1] != name:
                    # (two axes of one argument that were equal when traced are no evidence:
                    # equal sizes share a symbol whether or not the function needs them equal)
                    ov, other, oaxis, okind = seen[s]
                    pair = (f"arguments '{other}' and '{name}'" if okind == "argument"
                            else f"{okind} '{other}' and argument '{name}'")
                    return (f"{pair} must agree in size {s}: "
                            f"{other}.shape[{oaxis}] = {ov} but {name}.shape[{axis}] = {d}")
                seen.setdefault(s, (d, name, axis, kind))
        return None

    # --- stages and runners -------------------------------------------------------------------
    def program_at(self, stage):
        """The program at ``stage``: traced, grad, optimized (or forward, hvp)."""
        if stage in self._stages:
            return self._stages[stage]
        from .passes import optimize
        if stage == "traced":
            prog = self.program
        elif stage == "grad":
            from .grad.reverse import grad_program
            t0 = time.perf_counter()
            prog = grad_program(self.program, self.wrt_positions)
            self.timings["grad"] = time.perf_counter() - t0
            if debug.level() >= 2:
                debug.log(2, f"gradient program:\n{prog}")
        elif stage == "optimized":
            scalar = len(self.program.outputs) == 1 and self.program.outputs[0].shape == ()
            src = self.program_at("grad") if scalar else self.program
            t0 = time.perf_counter()
            prog = optimize(src)
            self.timings["optimize"] = time.perf_counter() - t0
        elif stage == "forward":
            prog = optimize(self.program)
        elif stage == "hvp":
            from .grad.reverse import hvp_program
            prog = optimize(hvp_program(self.program, self.wrt_positions))
        elif isinstance(stage, tuple) and stage[0] in ("chunk", "chunk_unoptimized"):
            prog = self.batch_sums.chunk_program(stage[1], self.wrt_positions)
            if stage[0] == "chunk":
                prog = optimize(prog)
        elif isinstance(stage, tuple):  # ("step" or "step_unoptimized", update rules' key)
            prog = self._step_program(self._step_rules[stage[1]])
            if stage[0] == "step":
                prog = optimize(prog)
        elif stage == "hvp_unoptimized":
            from .grad.reverse import hvp_program
            prog = hvp_program(self.program, self.wrt_positions)
        else:
            raise ValueError(f"stage must be 'traced', 'grad' or 'optimized', got {stage!r}")
        self._stages[stage] = prog
        name = stage if isinstance(stage, str) else stage[0]
        if debug.dumping():
            debug.dump(f"{_ident(self.cf.__name__)}.{id(self):x}.{name}.txt", str(prog))
        return prog

    def _runner(self, kind):
        r = self._runners.get(kind)
        if r is None:
            stage = {"forward": "forward", "grad": "optimized", "hvp": "hvp"}.get(kind, kind)
            if kind == "grad" and self.program.outputs[0].shape != ():
                raise ValueError(f"gradients need a scalar output; {self.cf.__name__} returned "
                                 f"shape {tuple(self.program.outputs[0].shape)}")
            t0 = time.perf_counter()
            if self.empty:
                # An empty batch: the simplified program assumes sizes >= 1 (a mean's 1/N
                # factored out of a sum over N rows: 0 * inf), so run the derived program
                # as it is, op by op, as eager does (a mean of nothing is NaN, its gradient 0)
                from .ir.interpret import Interpreter
                raw = {"forward": "traced", "grad": "grad", "hvp": "hvp_unoptimized"}.get(
                    kind) or (f"{kind[0]}_unoptimized", kind[1])
                r = Interpreter(self.program_at(raw)).run
            elif self.cf.backend == "numba":
                from codegen import compile_program, load_program
                alias = self._alias(kind if isinstance(kind, str) else repr(kind))
                # SYMGRAD_DEBUG >= 2 and SYMGRAD_DUMP show every pass: run them all
                r = None if debug.level() >= 2 or debug.dumping() else load_program(alias)
                if r is not None:
                    debug.log(1, f"{self.cf.__name__}: {kind} kernels loaded from the cache "
                                 f"({1e3 * (time.perf_counter() - t0):.0f} ms)")
                else:
                    from codegen import prepare_helper
                    prepare_helper()  # a helper process starts while the program is derived
                    prog = self.program_at(stage)
                    t0 = time.perf_counter()
                    r = compile_program(prog, alias=alias)
            else:
                from .ir.interpret import Interpreter
                r = Interpreter(self.program_at(stage)).run
            self.timings[f"compile_{kind}"] = time.perf_counter() - t0
            self.cf.count("compiles")
            self._runners[kind] = r
        return r

    # --- over chunks of rows (symgrad.over_chunks) ------------------------------------------
    def split_batch(self, chunked):
        """The program as sums over its batch (`symgrad.batch_sums.BatchSums`), the batch axis
        being axis 0 of the inputs at positions ``chunked``; cached."""
        from .batch_sums import BatchSums, NotABatchSum
        key = tuple(chunked)
        if getattr(self, "_split_key", None) != key:
            symbol = self._inputs[chunked[0]].shape[0] if self._inputs[chunked[0]].shape \
                else None
            if not self.symbolic or not isinstance(symbol, sympy.Symbol):
                raise NotABatchSum(
                    f"{self.cf.__name__} was traced with concrete sizes (it uses a size as a "
                    "Python int: range(n), a size comparison, reshape(-1, k)), so it cannot be "
                    "evaluated chunk by chunk")
            for k in chunked[1:]:
                if self._inputs[k].shape[:1] != (symbol,):
                    raise NotABatchSum(f"arguments '{self.arg_names[chunked[0]]}' and "
                                       f"'{self.arg_names[k]}' do not share the batch axis")
            self.batch_sums = BatchSums.of(self.program, symbol, chunked, self.cf.__name__)
            self._split_key = key
            self._stages = {k: v for k, v in self._stages.items()
                            if not (isinstance(k, tuple) and k[0] == "chunk")}
            self._runners = {k: v for k, v in self._runners.items()
                             if not (isinstance(k, tuple) and k[0] == "chunk")}
            self._tail_runs = {}
            self.chunk_refs = {}  # mode -> over_chunks.KernelRef
        return self.batch_sums

    def chunk_runner(self, mode):
        """The runner of `BatchSums.chunk_program` ``mode`` (after `split_batch`)."""
        return self._runner(("chunk", mode))

    def tail_run(self, with_grad):
        """The tail (value, or value and gradients with respect to its sums then its wrt
        inputs) on the reference interpreter: ``run(arrays, sizes)``."""
        run = self._tail_runs.get(with_grad)
        if run is None:
            from .ir.interpret import Interpreter
            tail = self.batch_sums.tail
            if with_grad:
                from .grad.reverse import grad_program
                k = len(self.batch_sums.sums)
                wrt = list(range(k)) + [k + i for i, pos in enumerate(
                    self.batch_sums.tail_globals) if pos in self.wrt_positions]
                tail = grad_program(tail, wrt)
            run = self._tail_runs[with_grad] = Interpreter(tail).run
        return run

    # --- the training step ------------------------------------------------------------------
    def step_runner(self, rules):
        """The runner of the training step with ``rules`` (one `train_step.UpdateRule` per
        wrt input): inputs are the traced ones, then per parameter its state arrays and its
        runtime scalars; outputs are (value, gradients, new parameters, new states)."""
        key = tuple(r.key for r in rules)
        self._step_rules[key] = rules
        return self._runner(("step", key))

    def _step_program(self, rules):
        from .train_step import update_nodes
        grad = self.program_at("grad")
        value, grads = grad.outputs[0], list(grad.outputs[1:])
        inputs, params, states = list(grad.inputs), [], []
        names = ["value"] + [f"grad_{n}" for n in self.wrt_names]
        state_names = []
        for pos, g, rule, pname in zip(self.wrt_positions, grads, rules, self.wrt_names):
            p = grad.inputs[pos]
            st = [make_node(Op.INPUT, (), {"name": f"{pname}_{s}"}, p.shape, p.dtype)
                  for s in rule.states]
            sc = [make_node(Op.INPUT, (), {"name": f"{pname}_{s}"}, (), p.dtype)
                  for s in rule.scalars]
            inputs += st + sc
            new = update_nodes(p, g, st, sc, rule)
            params.append(new[0])
            states += new[1:]
            names.append(f"new_{pname}")
            state_names += [f"new_{pname}_{s}" for s in rule.states]
        return Program(inputs, [value] + grads + params + states, names + state_names,
                       grad.sizes, "step", guards=grad.guards, batch_outputs=1 + len(grads))

    def _alias(self, kind) -> str:
        """Names the kernels of runner ``kind`` across processes: the traced program and what
        is differentiated (`codegen.load.cache.alias` adds the rest)."""
        from codegen.load.cache import alias
        return alias(kind, self.program.fingerprint(), repr(self.wrt_positions))

    def run(self, kind, inputs) -> list:
        """Outputs of the ``kind`` program ("forward", "grad", "hvp") on ``inputs``."""
        return self._runner(kind)(inputs)

    def hessian(self, inputs):
        """Second derivatives by one Hessian-vector product per parameter element."""
        sizes = [int(np.asarray(inputs[k]).size) for k in self.wrt_positions]
        shapes = [np.shape(inputs[k]) for k in self.wrt_positions]
        cols = [[] for _ in sizes]
        for j, n in enumerate(sizes):
            for i in range(n):
                tangents = [np.zeros(s, dtype=d.np) for s, d in zip(shapes, self.wrt_dtypes)]
                tangents[j].flat[i] = 1
                hv = self.run("hvp", list(inputs) + tangents)
                for b, h in enumerate(hv):
                    cols[b].append(np.asarray(h))
        blocks = []
        for a, sa in enumerate(shapes):
            row = []
            start = 0
            for nb, sb in zip(sizes, shapes):
                block = np.stack([cols[a][start + i].reshape(-1) for i in range(nb)], axis=1)
                row.append(block.reshape(tuple(sa) + tuple(sb)))
                start += nb
            blocks.append(tuple(row))
        return blocks[0][0] if len(blocks) == 1 else tuple(blocks)

    def formulas(self):
        from .formulas import build_formulas
        return build_formulas(self)

    def source(self):
        if self.cf.backend != "numba":
            raise RuntimeError("source() needs the Numba back end (backend='numba')")
        from codegen import program_source
        return program_source(self.program_at("optimized"))


def _requires_grad(ref, prepared) -> bool:
    kind, v = ref
    if kind == "arg":
        a = prepared[v].original
        return isinstance(a, Tensor) and a.requires_grad
    return v.requires_grad


def _as_items(spec):
    if isinstance(spec, str | int | Tensor):
        return [spec]
    if _is_module(spec):
        return list(spec.parameters())
    try:
        items = list(spec)
    except TypeError:
        return [spec]  # not iterable: `_position` names what it got
    return [p for item in items for p in (item.parameters() if _is_module(item) else [item])]


def _concrete(shape):
    return tuple(int(d) for d in shape)
