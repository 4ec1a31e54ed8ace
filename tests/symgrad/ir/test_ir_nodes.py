"""IR nodes and programs: hash-consing (equal nodes are the same object), structural keys,
topological order without dead code, and the jaxpr-like printer."""

from __future__ import annotations

import pickle

import numpy as np
import sympy

from symgrad import dtypes
from symgrad.ir.node import make_node
from symgrad.ir.printer import format_attrs, name_nodes, type_str
from symgrad.ir.program import Program, topological
from symgrad.ops import Op
from symgrad.pointwise import X

F64, I64 = dtypes.float64, dtypes.int64
N = sympy.Symbol("N", integer=True, positive=True)


def inp(name, shape=(N,), dtype=F64):
    return make_node(Op.INPUT, (), {"name": name}, shape, dtype)


def ew(body, inputs, shape=(N,), dtype=F64):
    return make_node(Op.ELEMENTWISE, inputs, {"body": body, "dtype": dtype, "cdtype": dtype},
                     shape, dtype)


def const(value):
    value = np.asarray(value)
    return make_node(Op.CONST, (), {"value": value}, value.shape,
                     dtypes.from_numpy_dtype(value.dtype))


# --- hash-consing -----------------------------------------------------------------------------


def test_equal_structure_gives_the_same_node():
    x, y = inp("x"), inp("y")
    assert inp("x") is x
    a = ew(X[0] * X[1], [x, y])
    assert ew(X[0] * X[1], [x, y]) is a
    assert ew(X[0] * X[1], [y, x]) is not a
    assert ew(X[0] + X[1], [x, y]) is not a


def test_dtype_shape_and_attributes_are_part_of_identity():
    x = inp("x")
    assert inp("x", dtype=I64) is not x
    assert inp("x", shape=(3,)) is not x
    s0 = make_node(Op.SUM, [x], {"axes": (0,), "keepdim": False}, (), F64)
    s1 = make_node(Op.SUM, [x], {"axes": (0,), "keepdim": True}, (1,), F64)
    assert s0 is not s1
    assert make_node(Op.SUM, [x], {"keepdim": False, "axes": (0,)}, (), F64) is s0


def test_constants_are_consed_by_content():
    a = const(np.arange(6.0).reshape(2, 3))
    assert const(np.arange(6.0).reshape(2, 3)) is a
    assert const(np.arange(6.0).reshape(3, 2)) is not a
    assert const(np.arange(6, dtype=np.int64).reshape(2, 3)) is not a
    assert a.attr("value").shape == (2, 3)
    np.testing.assert_array_equal(a.attr("value"), np.arange(6.0).reshape(2, 3))


def test_structural_key_is_hashable_and_stable():
    x = inp("x")
    a = ew(sympy.exp(X[0]), [x])
    assert hash(a.key) == hash(ew(sympy.exp(X[0]), [x]).key)
    cache = {a.key: "kernel"}
    assert cache[ew(sympy.exp(X[0]), [x]).key] == "kernel"
    assert isinstance(pickle.dumps(str(a.key)), bytes)


def test_attr_accessors():
    x = inp("x")
    s = make_node(Op.SUM, [x], {"axes": (0,), "keepdim": False}, (), F64)
    assert s.attr("axes") == (0,)
    assert s.attr("missing", 7) == 7
    assert s.attr_dict == {"axes": (0,), "keepdim": False}
    assert "sum" in repr(s) and "float64" in repr(s)


# --- programs ---------------------------------------------------------------------------------


def test_topological_order_inputs_first_and_no_dead_code():
    x, y = inp("x"), inp("y")
    a = ew(X[0] * X[1], [x, y])
    dead = ew(sympy.exp(X[0]), [a])
    b = ew(X[0] + X[1], [a, x])
    order = topological([b])
    assert dead not in order
    assert order.index(a) < order.index(b)
    assert order.index(x) < order.index(a) and order.index(y) < order.index(a)
    assert len(order) == len({id(n) for n in order})
    program = Program([x, y], [b])
    assert program.count() == 2
    assert program.count(Op.ELEMENTWISE) == 2
    assert program.count(Op.SUM) == 0


def test_shared_subexpression_appears_once():
    x = inp("x")
    a = ew(sympy.exp(X[0]), [x])
    b = ew(X[0] * X[1], [a, a])
    c = ew(X[0] + X[1], [b, a])
    assert topological([c, a]).count(a) == 1
    assert Program([x], [c, a]).count() == 3


def test_deep_chains_do_not_recurse():
    x = inp("x")
    node = x
    for _ in range(5000):
        node = ew(X[0] + 1, [node])
    assert len(topological([node])) == 5001


def test_with_outputs_keeps_inputs_and_sizes():
    x = inp("x")
    p = Program([x], [ew(X[0] * 2, [x])], sizes={N: (0, 0)}, stage="traced")
    q = p.with_outputs([x], ["same"], stage="grad")
    assert q.inputs == p.inputs and q.sizes == p.sizes
    assert q.output_names == ["same"] and q.stage == "grad"
    assert p.input_names() == ["x"]


# --- printer ----------------------------------------------------------------------------------


def test_type_strings():
    assert type_str(inp("x", (N, 3))) == "f64[N,3]"
    assert type_str(inp("x", (), I64)) == "i64[]"
    assert type_str(inp("m", (2,), dtypes.bool_)) == "bool[2]"
    assert type_str(inp("h", (2,), dtypes.float32)) == "f32[2]"


def test_names_skip_input_names():
    a_in, b_in = inp("a"), inp("b")
    n1 = ew(X[0] * X[1], [a_in, b_in])
    n2 = ew(sympy.exp(X[0]), [n1])
    names = name_nodes(Program([a_in, b_in], [n2]))
    assert names[id(n1)] == "c" and names[id(n2)] == "d"


def test_names_continue_past_z():
    x = inp("x")
    node = x
    for _ in range(30):
        node = ew(X[0] + 1, [node])
    text = str(Program([x], [node]))
    assert "\n    aa:f64[N] = [z + 1]\n" in text


def test_print_program_like_a_jaxpr():
    x, y = inp("x", (N, 3)), inp("y", (N,), I64)
    a = ew(X[0] * 2 + X[1], [x, const(np.ones(3))], (N, 3))
    s = make_node(Op.SUM, [a], {"axes": (1,), "keepdim": False}, (N,), F64)
    c = ew(sympy.Piecewise((X[0], sympy.Eq(X[1], 0)), (0, True)), [s, y])
    program = Program([x, y], [c, s], sizes={N: (0, 0)})
    assert str(program) == """\
{ lambda x:f64[N,3] y:i64[N] ; sizes N .
    a:f64[3] = const[value=[1.,1.,1.]]
    b:f64[N,3] = [a + 2*x]
    c:f64[N] = sum[axes=(1,), keepdim=False] b
    d:f64[N] = [Piecewise((c, Eq(y, 0)), (0, True))]
  in (d, c) }"""
    assert repr(program) == str(program)


def test_attribute_text():
    x = inp("x", (N, 3))
    big = const(np.arange(12.0).reshape(3, 4))
    assert format_attrs(big) == "[value=<float64[3, 4]>]"
    p = make_node(Op.PERMUTE, [x], {"perm": (1, 0)}, (3, N), F64)
    assert format_attrs(p) == "[perm=(1, 0)]"
    r = make_node(Op.RESHAPE, [x], {"shape": (3 * N,)}, (3 * N,), F64)
    assert format_attrs(r) == "[shape=(3*N,)]"
