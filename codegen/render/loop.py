"""Render a training loop: many steps of one training-step module in one Numba function.

A training step's module has ``run_jit`` (`codegen.render.Renderer.jit_driver`): its driver as
one Numba function. The loop module calls it once per minibatch and writes its outputs in
place: the new parameters and optimizer state into their arrays, the loss into ``losses``, the
gradients into ``g0, g1, ...`` (every step, so that they are the last finished step's when one
raises). Between steps nothing runs in Python, so a step costs the kernels alone.

Each program input has a role (`LoopSpec`):

- ``batch``: a data array. Step ``i`` reads its rows ``start:start + batch``, where
  ``start = (i % per_epoch) * batch``; shuffled, the rows ``order[e, start:start + batch]``
  of its epoch's permutation (one row of ``order`` per epoch, from ``i0``'s epoch on).
- ``fixed``: passed as it is.
- ``written``: a parameter or state array, overwritten by an output after every step (a
  rank-0 one is passed as a 1-element view).
- ``scalar``: a column of ``table``, one row per step (learning rates, bias corrections).

An output ``run_jit`` writes into an array it is given (its module's ``RUN_JIT_GIVEN``) is not
copied in the loops: each such output has a spare array, passed after the gradients (``SPARES``
names them), and the step writes into whichever of the pair the previous step did not, the two
swapping after every finished step. A parameter or state is then read from where the last step
wrote it, and a step that raises has written only into the other array of its pair. After
``k`` finished steps of a call: a written input's latest value is in its spare when ``k`` is
odd (the caller copies it back, once per call), and a gradient's is in the gradient array when
``k`` is odd, in its spare when ``k`` is even. (Copying every output after every step costs
about as much as reading it again: 1.6 us per step for W4's 11k numbers.)

``done[0]`` counts the finished steps, so a caller knows where an error stopped the loop
(``done`` has one element: its length is `run_jit`'s ``one``, a number Numba does not know
while compiling, so that the step's kernels are not compiled again for literal chunk numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.render import jit_flags


@dataclass(frozen=True)
class LoopSpec:
    """What the loop does with each input and output of a training step.

    ``inputs``: one (role, rank, dtype name) per program input, role one of "batch",
    "fixed", "written", "scalar". ``outputs``: one per program output after the loss:
    ("grad", rank) or ("write", input position)."""

    inputs: tuple
    outputs: tuple


def _copy(target, rank, q) -> list:
    """Lines writing output ``q`` into ``target`` (of the output's shape) as plain nested
    loops: Numba compiles ``a[:] = b``'s broadcasting and overlap checks into far more code
    (seconds of compile time for a loop writing a few arrays)."""
    if rank == 0:
        return [f"        {target}[0] = o[{q}]"]
    idx = [f"e{d}" for d in range(rank)]
    lines = [f"        src = o[{q}]"]
    for d in range(rank):
        lines.append("    " * (d + 2) + f"for e{d} in range({target}.shape[{d}]):")
    lines.append("    " * (rank + 2) + f"{target}[{', '.join(idx)}] = src[{', '.join(idx)}]")
    return lines


def loop_source(module_name: str, spec: LoopSpec, given: tuple = ()) -> str:
    """The source of a module with ``loop_in_order``, ``loop_shuffled`` and ``step_once``,
    calling ``run_jit`` of the training-step module ``module_name`` (bound by the loader).
    ``given``: the positions of the outputs ``run_jit`` writes into arrays passed after its
    inputs (its module's ``RUN_JIT_GIVEN``): in ``step_once`` made before the step, like the
    output's target (a parameter, a state or a gradient array); in the loops, of rank >= 1,
    the output and its spare swap (see the module's docstring), a rank-0 one made once."""
    args, columns = [], 0
    for k, (role, rank, dtype) in enumerate(spec.inputs):
        if role == "scalar":
            cell = f"table[i - i0, {columns}]"
            args.append(cell if dtype == "float64" else f"np.{dtype}({cell})")
            columns += 1
        elif role == "batch":
            args.append(f"x{k}[ROWS]")
        elif role == "written" and rank == 0:
            args.append(f"x{k}[0]")
        else:
            args.append(f"x{k}")
    params = [f"x{k}" for k, (role, _, _) in enumerate(spec.inputs) if role != "scalar"]
    grads, writes, targets, ranks, copies, n_grads = [], [], [], [], {}, 0
    for q, out in enumerate(spec.outputs, 1):
        if out[0] == "grad":
            targets.append(f"g{n_grads}")
            ranks.append(out[1])
            n_grads += 1
        else:
            targets.append(f"x{out[1]}")
            ranks.append(spec.inputs[out[1]][1])
        copies[q] = _copy(targets[-1], ranks[-1], q)
        (grads if out[0] == "grad" else writes).extend(copies[q])
    params += [f"g{q}" for q in range(n_grads)]
    buffers = [f"b{j} = np.empty_like({targets[q - 1]})" for j, q in enumerate(given)]
    args += [f"b{j}" for j in range(len(given))]
    # the loops: a given output of rank >= 1 swaps with its spare instead of being copied
    spares, swap_lines, swapped, kept_buffers, loop_args = [], [], set(), [], list(args)
    start_lines = []
    for j, q in enumerate(given):
        target, out = targets[q - 1], spec.outputs[q - 1]
        if ranks[q - 1] == 0:
            kept_buffers.append(buffers[j])
            continue
        swapped.add(q)
        spares.append(("g", int(target[1:])) if out[0] == "grad"
                      else ("x", params.index(target)))
        s_j = f"s{len(spares) - 1}"
        loop_args[len(args) - len(given) + j] = f"n{j}"
        if out[0] == "grad":  # written into g, then the spare, then g ...
            start_lines += [f"n{j} = {target}", f"p{j} = {s_j}"]
            swap_lines.append(f"        n{j}, p{j} = p{j}, n{j}")
        else:  # read from where the last step wrote it
            k = out[1]
            start_lines += [f"c{k} = {target}", f"n{j} = {s_j}"]
            loop_args = [f"c{k}" if a == target else a for a in loop_args]
            swap_lines.append(f"        c{k}, n{j} = n{j}, c{k}")
    loop_copies = [line for q in copies if q not in swapped for line in copies[q]]
    head = ["i0, i1, per_epoch, batch, order, table, losses, done"] + params + \
        [f"s{j}" for j in range(len(spares))]

    def loop(name, rows, doc):
        call = ", ".join(loop_args).replace("ROWS", rows)
        return [
            "@njit(**JIT)",
            f"def {name}({', '.join(head)}):",
            f'    """Steps i0..i1-1 (of epochs of per_epoch steps), {doc}."""',
            *["    " + line for line in kept_buffers + start_lines],
            "    for i in range(i0, i1):",
            "        start = (i % per_epoch) * batch",
            f"        o = run_jit(done.shape[0], {call})",
            "        losses[i] = o[0]",
            *loop_copies,
            *swap_lines,
            "        done[0] = i + 1",
            "",
            ""]

    # one step on the inputs as given (`symgrad.fit_loop.StepLoop`): no step range, order or
    # count to pass (a step that raises has written nothing); ``losses`` has one element (its
    # length is run_jit's ``one``, as ``done``'s in the loops)
    once = ", ".join(args).replace("[ROWS]", "").replace("i - i0", "0")
    step_once = [
        "@njit(**JIT)",
        f"def step_once({', '.join(['table, losses'] + params)}):",
        '    """One step on the inputs as they are, its scalars table[0]: the loss in '
        'losses[0]."""',
        *["    " + line for line in buffers],
        f"    o = run_jit(losses.shape[0], {once})",
        "    losses[0] = o[0]",
        *[line[4:] for line in writes + grads],
        "",
        ""]

    return "\n".join([
        f'"""symgrad training loop over the steps of {module_name}.',
        "",
        f"Inputs: {', '.join(f'x{k} {r}' for k, (r, _, _) in enumerate(spec.inputs))}",
        '"""',
        "",
        "import numpy as np",
        "",
        "from codegen.njit import njit",
        "",
        f"JIT = dict({jit_flags()})",
        "",
        "# the loops' spare arrays, passed after the gradients: (\"x\", position among the "
        "inputs passed)",
        "# for a written input, (\"g\", gradient number) for a gradient",
        f"SPARES = ({''.join(repr(sp) + ', ' for sp in spares)})",
        "",
        "",
        *loop("loop_in_order", "start:start + batch", "rows in order"),
        *loop("loop_shuffled", "order[i // per_epoch - i0 // per_epoch, start:start + batch]",
              "rows order[epoch - first epoch, start:start + batch]"),
        *step_once,
    ]).rstrip() + "\n"
