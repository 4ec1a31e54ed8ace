"""A training step's Python side, generated for one step layout and one argument pattern.

`CompiledFunction.step` through `fit_loop.StepLoop` spends most of a small step in Python:
finding the trace, checking the optimizer's groups and forms, fetching state arrays, the
scalars' row, the call, then version counters, ``.grad`` and Adam's step counts. Once a step
has run that way, `build` writes all of it as one straight-line function for exactly that
optimizer, those parameters and state arrays and that argument pattern (types, dtypes,
shapes), in the manner of `compile._fast_caller`. Every assumption is a guard at the top: any
other call (another optimizer, a replaced ``.data`` or state tensor, changed options, other
shapes) calls `CompiledFunction._step_after_miss` (another generated step kept for the call,
or the general path, which builds a caller again). While it is in use it is the compiled
function's ``step`` itself (`CompiledFunction._use_step_caller`), so a step is one Python call
before the kernels.

The runtime scalars come from `train_step.scalar_values`, worked out again whenever a value
they are made of may have changed (a group's values, Adam's step counts; always while a group
holds a Tensor, which can change in place), so an LR schedule, changed betas or momentum take
effect as in eager (only the options that decide the equations' form are guarded, checked
with the scalars), and nothing is written when the kernel raises.

A step's gradients are left in ``.grad`` as bare arrays, made Tensors when first read
(`Tensor.grad`): most training loops never read them.
"""

from __future__ import annotations

import numpy as np

from .train_step import scalar_values

MISS = "return MISS(opt, args)"  # a call the guards refuse: the general path
_SCALARS = (float, int, bool)
MAX_BUILDS = 64  # per step layout: a caller whose guards fail at every call is not rebuilt
KEEP = 8  # generated steps kept per compiled function (by optimizer and argument pattern)


def build(cf, loop, opt, args, inputs):
    """The generated step of ``cf`` through ``loop`` (a `fit_loop.StepLoop`) for ``opt`` and
    arguments like ``args`` (the program's ``inputs`` for them), or None when the call is not
    of that simple kind: arguments that are not plain arrays or Python numbers, converted
    arguments, a wrt tensor passed as an argument."""
    layout, entry = loop.layout, loop.entry
    if layout.builds >= MAX_BUILDS or len(args) != entry.n_args:
        return None
    layout.builds += 1
    env = {"nd": np.ndarray, "OPT": opt, "LOOP": loop, "FN": loop.fn,
           "TABLE": loop.table, "LOSSES": loop.losses,
           "STATS": cf._stats, "values_of": scalar_values, "empty": np.empty,
           "asarray": np.asarray, "LD": loop.loss_dtype, "MISS": cf._step_after_miss,
           "RAISE": cf._raise_eager_error}
    params, guards, passed = [], ["opt is OPT"], []
    for i, a in enumerate(args):
        params.append(f"a{i}")
        if type(a) is np.ndarray:
            if inputs[i] is not a:
                return None
            env[f"d{i}"], env[f"s{i}"] = a.dtype, a.shape
            guards.append(f"type(a{i}) is nd and a{i}.dtype is d{i} and a{i}.shape == s{i}")
            passed.append(f"a{i}[()]" if a.ndim == 0 else f"a{i}")
        elif type(a) in _SCALARS and inputs[i] is a:
            env[f"t{i}"] = type(a)
            guards.append(f"type(a{i}) is t{i}")
            passed.append(f"a{i}")
        else:
            return None
    # captured tensors (wrt or not): the arrays seen now (a replaced `.data` is another call)
    wrt = {}
    for k in range(entry.n_args, len(inputs)):
        kind, t = entry._refs[k]
        if kind != "tensor" or t._data is not inputs[k]:
            return None
        env[f"T{k}"], env[f"D{k}"] = t, t._data
        guards.append(f"T{k}._data is D{k}")
        if k in entry.wrt_positions:  # frozen (requires_grad_(False)): the general path
            guards.append(f"T{k}._requires_grad")
        if k in entry.wrt_positions:
            wrt[entry.wrt_positions.index(k)] = k
            env[f"V{k}"] = t._data.reshape(1) if t._data.ndim == 0 else t._data
            passed.append(f"V{k}")
        else:
            passed.append(f"D{k}[()]" if t._data.ndim == 0 else f"D{k}")
    if sorted(wrt) != list(range(len(layout.tensors))):
        return None  # a wrt tensor among the arguments
    body = _optimizer_guards(env, guards, layout, opt)
    if body is None:
        return None
    lines = ["def step(opt, *args):", f"    if len(args) != {len(args)}:", f"        {MISS}"]
    if params:
        lines.append(f"    {''.join(p + ', ' for p in params)}= args")
    lines += [f"    if not ({' and '.join(guards)}):", f"        {MISS}"]
    lines += body
    grads, commit = [], []
    for j, t in enumerate(layout.tensors):
        k = wrt[j]
        env[f"S{j}"], env[f"G{j}d"] = t._data.shape, t._data.dtype
        lines.append(f"    g{j} = empty(S{j}, G{j}d)")
        grads.append(f"g{j}.reshape(1)" if t._data.ndim == 0 else f"g{j}")
        # the bare array: Tensor.grad makes it a Tensor when first read
        commit += [f"    T{k}._version.value += 1", f"    T{k}._grad = g{j}"]
    states = [f"M{j}_{s}v" for j, rule in enumerate(layout.rules) for s in rule.states]
    lines += ["    try:", f"        FN(TABLE, LOSSES, {', '.join(passed + states + grads)})",
              "    except IndexError as e:",  # nothing written: eager's error
              "        RAISE(args, e)"]
    lines += commit
    if layout.adam:
        for j in range(len(layout.tensors)):
            lines += [f"    K{j}d[()] = n{j} + 1.0", f"    K{j}._version.value += 1"]
    # the loss as a new 0-d array (a copy of a view of the loop's loss when it is a float64)
    env["LOSS"] = loop.losses.reshape(())
    loss = "LOSS.copy()" if loop.loss_dtype == np.float64 else "asarray(LOSSES[0], LD)"
    lines += ["    STATS['hits'] += 1", f"    return {loss}", ""]
    source = "\n".join(lines)
    exec(compile(source, f"<symgrad step of {cf.__name__}>", "exec"), env)
    fn = env["step"]
    fn.source = source
    return fn


def _optimizer_guards(env, guards, layout, opt):
    """Guards on ``opt``'s groups, forms and state (appended to ``guards``) and the lines that
    read the state and build the scalars' row; None when the state is not all there."""
    groups = opt.param_groups
    env["PG"], env["NG"] = groups, len(groups)
    guards += ["opt.param_groups is PG", "len(PG) == NG"]
    for g, group in enumerate(groups):
        env[f"GR{g}"], env[f"P{g}"], env[f"NP{g}"] = group, group["params"], len(group["params"])
        guards += [f"PG[{g}] is GR{g}", f"GR{g}['params'] is P{g}", f"len(P{g}) == NP{g}"]
        position = {id(t): j for j, t in enumerate(layout.tensors)}
        for i, p in enumerate(group["params"]):
            if id(p) not in position:
                return None
            guards.append(f"P{g}[{i}] is T_{position[id(p)]}")
    for j, t in enumerate(layout.tensors):
        env[f"T_{j}"] = t
    forms = []  # checked with the row: they are functions of the groups' values
    for g, (group, key) in enumerate(layout.group_forms):
        env[f"FG{g}"], env[f"FK{g}"], env["form"] = group, key, layout.form
        forms.append(f"form(FG{g}) == FK{g}")
    lines = ["    state = opt.state"]
    first_of_group = {}
    row, values, group_key, counts = [], [], [], []
    for j, (t, rule, group) in enumerate(zip(layout.tensors, layout.rules, layout.groups)):
        state = opt.state.get(t)
        if state is None and (rule.states or layout.adam):
            return None
        if rule.states or layout.adam:
            lines += [f"    st{j} = state.get(T_{j})", f"    if st{j} is None:",
                      f"        {MISS}"]
        else:  # plain SGD keeps no state
            env["EMPTY"] = {}
            lines.append(f"    st{j} = state.get(T_{j}, EMPTY)")
        for s in rule.states:
            have = state.get(s)
            if have is None or have._data.shape != t._data.shape or \
                    have._data.dtype != t._data.dtype:
                return None
            env[f"M{j}_{s}"], env[f"M{j}_{s}d"] = have, have._data
            env[f"M{j}_{s}v"] = have._data.reshape(1) if have._data.ndim == 0 else have._data
            lines += [f"    if not (st{j}.get({s!r}) is M{j}_{s} and M{j}_{s}._data is M{j}_{s}d):",
                      f"        {MISS}"]
        if layout.adam:
            count = state.get("step")
            if count is None:
                return None
            env[f"K{j}"], env[f"K{j}d"] = count, count._data
            lines += [f"    if not (st{j}.get('step') is K{j} and K{j}._data is K{j}d):",
                      f"        {MISS}", f"    n{j} = K{j}d.item()"]
        # the group's scalars, worked out for its first parameter (Adam: again for a
        # parameter at another step count, one frozen for a while)
        first = first_of_group.get(id(group))
        names = ", ".join(f"v{j}[{s!r}]" for s in rule.scalars)
        if first is None:
            first = first_of_group[id(group)] = j
            env[f"GG{j}"] = group
            values += [f"        v{j} = values_of(opt, GG{j}, st{j}, 0)",
                       f"        r{j} = [{names}]"]
            group_key.append(f"GG{j}")
        elif layout.adam:
            values += [f"        v{j} = v{first} if n{j} == n{first} else "
                       f"values_of(opt, GG{first}, st{j}, 0)",
                       f"        r{j} = r{first} if v{j} is v{first} else [{names}]"]
        if layout.adam:
            counts.append(f"n{j}")
        row.append(f"r{j if layout.adam else first}")
    # the row is worked out again only when a value it is made of may have changed: the
    # groups' values (compared with a copy of each group, kept only while its values are all
    # immutable: a Tensor lr changes in place; the forms are checked when they change) and
    # Adam's step counts; or when the general path wrote another row
    env["KEYS"], env["SN"], env["snapshot"] = [None, None, None], [None] * len(group_key), \
        _snapshot
    same = " and ".join(f"{name} == SN[{g}]" for g, name in enumerate(group_key))
    lines.append(f"    same = {same}")
    if counts:
        lines += [f"    nkey = ({', '.join(counts)},)",
                  "    if not same or nkey != KEYS[2] or LOOP.row is not KEYS[1]:"]
    else:
        lines += ["    nkey = None", "    if not same or LOOP.row is not KEYS[1]:"]
    lines.append("        if not same:")
    if forms:
        lines += [f"            if not ({' and '.join(forms)}):", f"                {MISS}"]
    lines += [f"            SN[:] = [{', '.join(f'snapshot({n})' for n in group_key)}]"]
    lines += values
    lines += [f"        row = {' + '.join(row)}", "        if row != LOOP.row:",
              "            TABLE[0] = row", "            LOOP.row = row",
              "        KEYS[1], KEYS[2] = LOOP.row, nkey"]
    return lines


def _snapshot(group: dict) -> dict | None:
    """A copy of ``group`` to compare it with at the next step (equal: no value changed), or
    None (never equal) when a value other than its params can change in place."""
    values = tuple(v for k, v in group.items() if k != "params")
    return dict(group) if _immutable(values) else None


def _immutable(values) -> bool:
    """Whether ``values`` (a tuple) holds only values that cannot change in place."""
    for v in values:
        if type(v) is tuple:
            if not _immutable(v):
                return False
        elif type(v) not in _IMMUTABLE:
            return False
    return True


_IMMUTABLE = (float, int, bool, str, type(None))
