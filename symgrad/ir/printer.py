"""Print a program like a jaxpr: one typed equation per line, deterministic names."""

from __future__ import annotations

import string

import sympy

from ..ops import Op
from ..pointwise import placeholder

_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32",
          "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool"}


def type_str(node) -> str:
    """``f64[N,16]``."""
    dims = ",".join(str(d) for d in node.shape)
    return f"{_SHORT.get(node.dtype.name, node.dtype.name)}[{dims}]"


def _names(count, taken):
    letters = string.ascii_lowercase
    k = 0
    out = []
    while len(out) < count:
        n, s = k, ""
        while True:
            s = letters[n % 26] + s
            n = n // 26 - 1
            if n < 0:
                break
        k += 1
        if s not in taken:
            out.append(s)
    return out


def name_nodes(program) -> dict:
    """Map node id -> printed name: inputs keep their names, the rest get a, b, c, ..."""
    names = {id(n): n.attr("name") for n in program.inputs}
    others = [n for n in program.nodes if id(n) not in names]
    for n, s in zip(others, _names(len(others), set(names.values()))):
        names[id(n)] = s
    return names


def format_attrs(node, names=None) -> str:
    """The bracketed attributes of an equation."""
    if node.op is Op.ELEMENTWISE:
        body = node.attr("body")
        if names is not None:
            body = body.xreplace({placeholder(k): sympy.Symbol(names[id(i)])
                                  for k, i in enumerate(node.inputs)})
        return f"[{sympy.sstr(body)}]"
    parts = []
    for k, v in node.attrs:
        if k in ("dtype", "cdtype", "name"):
            continue
        if k == "value":
            parts.append(f"value={v!r}")
        elif isinstance(v, tuple):
            parts.append(f"{k}=({', '.join(str(x) for x in v)}{',' if len(v) == 1 else ''})")
        else:
            parts.append(f"{k}={v}")
    return f"[{', '.join(parts)}]" if parts else ""


def format_program(program) -> str:
    """The whole program as text."""
    names = name_nodes(program)
    head = " ".join(f"{names[id(n)]}:{type_str(n)}" for n in program.inputs)
    sizes = " ".join(str(s) for s in program.sizes)
    lines = [f"{{ lambda {head}{' ; sizes ' + sizes if sizes else ''} ."]
    for n in program.nodes:
        if n.op is Op.INPUT:
            continue
        args = " ".join(names[id(i)] for i in n.inputs)
        if n.op is Op.ELEMENTWISE:
            eq = f"{names[id(n)]}:{type_str(n)} = {format_attrs(n, names)}"
        else:
            eq = f"{names[id(n)]}:{type_str(n)} = {n.op.value}{format_attrs(n)} {args}".rstrip()
        lines.append("    " + eq)
    outs = ", ".join(f"{names[id(o)]}" for o in program.outputs)
    lines.append(f"  in ({outs}) }}")
    if program.guards:
        lines.append("  guards: " + "; ".join(str(g) for g in program.guards))
    return "\n".join(lines)
