"""A training step's Python side, generated for one step layout and one argument pattern.

`CompiledFunction.step` through `fit_loop.StepLoop` spends most of a small step in Python:
finding the trace, checking the optimizer's groups and forms, fetching state arrays, the
scalars' row, the call, then version counters, ``.grad`` and Adam's step counts. Once a step
has run that way, `build` writes all of it as one straight-line function for exactly that
optimizer, those parameters and state arrays and that argument pattern (types, dtypes,
shapes), in the manner of `compile._fast_caller`. Every assumption is a guard at the top: any
other call (another optimizer, a replaced ``.data`` or state tensor, changed options, other
shapes) returns `MISSING` and takes the general path, which builds a caller again.

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

MISSING = object()
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
    env = {"nd": np.ndarray, "MISSING": MISSING, "OPT": opt, "LOOP": loop, "FN": loop.fn,
           "NO": loop.no_order, "TABLE": loop.table, "LOSSES": loop.losses, "DONE": loop.done,
           "STATS": cf._stats, "values_of": scalar_values, "empty": np.empty,
           "asarray": np.asarray, "LD": loop.loss_dtype}
    params, guards, passed = [], ["opt is OPT", "not more"], []
    for i, a in enumerate(args):
        params.append(f"a{i}=MISSING")
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
    lines = [f"def step({', '.join(['opt'] + params + ['*more'])}):",
             f"    if not ({' and '.join(guards)}):", "        return MISSING"]
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
    lines.append(f"    FN(0, 1, 1, 1, NO, TABLE, LOSSES, DONE, "
                 f"{', '.join(passed + states + grads)})")
    lines += commit
    if layout.adam:
        for j in range(len(layout.tensors)):
            lines += [f"    K{j}d[()] = n{j} + 1.0", f"    K{j}._version.value += 1"]
    lines += ["    STATS['hits'] += 1", "    return asarray(LOSSES[0], LD)", ""]
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
                      "        return MISSING"]
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
                      "        return MISSING"]
        if layout.adam:
            count = state.get("step")
            if count is None:
                return None
            env[f"K{j}"], env[f"K{j}d"] = count, count._data
            lines += [f"    if not (st{j}.get('step') is K{j} and K{j}._data is K{j}d):",
                      "        return MISSING", f"    n{j} = K{j}d.item()"]
        # the group's scalars, worked out for its first parameter (Adam: again for a
        # parameter at another step count, one frozen for a while)
        first = first_of_group.get(id(group))
        names = ", ".join(f"v{j}[{s!r}]" for s in rule.scalars)
        if first is None:
            first = first_of_group[id(group)] = j
            env[f"GG{j}"] = group
            values += [f"        v{j} = values_of(opt, GG{j}, st{j}, 0)",
                       f"        r{j} = [{names}]"]
            group_key += [f"len(GG{j})"] + [f"GG{j}[{name!r}]" for name in sorted(group)
                                            if name != "params"]
        elif layout.adam:
            values += [f"        v{j} = v{first} if n{j} == n{first} else "
                       f"values_of(opt, GG{first}, st{j}, 0)",
                       f"        r{j} = r{first} if v{j} is v{first} else [{names}]"]
        if layout.adam:
            counts.append(f"n{j}")
        row.append(f"r{j if layout.adam else first}")
    # the row is worked out again only when a value it is made of may have changed: the
    # groups' values (kept only while all are immutable: a Tensor lr changes in place; the
    # forms are checked when they change) and Adam's step counts; or when the general path
    # wrote another row
    env["KEYS"], env["immutable"] = [None, None, None], _immutable
    lines.append(f"    gkey = ({', '.join(group_key)},)")
    if counts:
        lines += [f"    nkey = ({', '.join(counts)},)",
                  "    if gkey != KEYS[0] or nkey != KEYS[2] or LOOP.row is not KEYS[1]:"]
    else:
        lines += ["    nkey = None", "    if gkey != KEYS[0] or LOOP.row is not KEYS[1]:"]
    lines.append("        if gkey != KEYS[0]:")
    if forms:
        lines += [f"            if not ({' and '.join(forms)}):", "                return MISSING"]
    lines += ["            KEYS[0] = gkey if immutable(gkey) else None"]
    lines += values
    lines += [f"        row = {' + '.join(row)}", "        if row != LOOP.row:",
              "            TABLE[0] = row", "            LOOP.row = row",
              "        KEYS[1], KEYS[2] = LOOP.row, nkey"]
    return lines


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
