"""The primitive table is complete: every `symgrad.ops.Op` has a shape rule, an eager
implementation (INPUT is traced only) and, unless it is in ``NONDIFFERENTIABLE``, a VJP rule
and a SAVES entry. The groups partition the enum, and each eager implementation produces the
shape its shape rule predicts."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from symgrad import ops
from symgrad.grad.rules import SAVES, VJP_RULES
from symgrad.impl import IMPLS
from symgrad.ops import Op
from symgrad.pointwise import placeholder
from symgrad.shapes import SHAPE_RULES

ALL = list(Op)
TRACED_ONLY = {Op.INPUT}


@pytest.mark.parametrize("op", ALL, ids=lambda op: op.name)
def test_every_op_has_a_shape_rule(op):
    assert op in SHAPE_RULES, f"{op} has no shape rule in symgrad.shapes.SHAPE_RULES"


@pytest.mark.parametrize("op", [op for op in ALL if op not in TRACED_ONLY],
                         ids=lambda op: op.name)
def test_every_op_has_an_eager_impl(op):
    assert op in IMPLS, f"{op} has no eager implementation in symgrad.impl.IMPLS"


@pytest.mark.parametrize("op", ALL, ids=lambda op: op.name)
def test_every_differentiable_op_has_a_vjp_rule_and_saves(op):
    if op in ops.NONDIFFERENTIABLE:
        assert op not in VJP_RULES, f"{op} is NONDIFFERENTIABLE but has a VJP rule"
        return
    assert op in VJP_RULES, f"{op} has no VJP rule in symgrad.grad.rules.VJP_RULES"
    assert op in SAVES, f"{op} has no SAVES entry in symgrad.grad.rules"


def test_tables_hold_only_ops():
    for table in (SHAPE_RULES, IMPLS, VJP_RULES, SAVES):
        assert set(table) <= set(Op)
    assert set(VJP_RULES) == set(SAVES)


def test_groups_partition_the_enum():
    groups = [ops.ELEMENTWISE_OPS, ops.REDUCE_OPS, ops.MOVEMENT_OPS, ops.INDEX_OPS,
              ops.LEAF_OPS, ops.SCAN_OPS]
    seen = []
    for g in groups:
        seen.extend(g)
    assert sorted(seen, key=lambda o: o.name) == sorted(ALL, key=lambda o: o.name)
    assert len(seen) == len(set(seen)), "an op is in two groups"
    assert ops.NONDIFFERENTIABLE <= set(ALL)


X = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
IDX = np.array([[0, 2], [1, 1]])

EXAMPLES = {
    Op.ELEMENTWISE: ([X, X[0, 0]], {"body": placeholder(0) * placeholder(1),
                                    "dtype": None, "cdtype": None}),
    Op.SUM: ([X], {"axes": (0, 2), "keepdim": False}),
    Op.MAX: ([X], {"axes": (1,), "keepdim": True}),
    Op.MIN: ([X], {"axes": (0, 1, 2), "keepdim": False}),
    Op.BROADCAST: ([X[:, :1]], {"shape": (5, 2, 3, 4)}),
    Op.RESHAPE: ([X], {"shape": (6, 4)}),
    Op.PERMUTE: ([X], {"perm": (2, 0, 1)}),
    Op.SLICE: ([X], {"index": ((1, 2, 1), (0, 3, 2), (1, 4, 1))}),
    Op.PAD: ([X], {"shape": (3, 5, 4), "index": ((1, 3, 1), (0, 3, 1), (0, 4, 1))}),
    Op.GATHER: ([X, IDX], {"key": (("s", 0, 2, 1), ("a", 0))}),
    Op.SCATTER_ADD: ([np.ones((2, 2, 2, 4)), IDX], {"shape": (2, 3, 4),
                                                   "key": (("s", 0, 2, 1), ("a", 0))}),
    Op.SCAN: ([X], {"axis": 1, "reverse": True}),
    Op.STOP_GRADIENT: ([X], {"stabilizer": False}),
    Op.IOTA: ([], {"shape": (2, 3), "axis": 1, "dtype": None}),
    Op.CONST: ([], {"value": X}),
}


@pytest.mark.parametrize("op", [op for op in ALL if op not in TRACED_ONLY],
                         ids=lambda op: op.name)
def test_impl_agrees_with_shape_rule(op):
    from symgrad import dtypes
    if op not in EXAMPLES:
        pytest.fail(f"add an example for {op} to EXAMPLES")
    arrays, attrs = EXAMPLES[op]
    attrs = {k: (dtypes.float64 if k in ("dtype", "cdtype") and v is None and op is not
                 Op.IOTA else dtypes.int64 if k == "dtype" and v is None else v)
             for k, v in attrs.items()}
    expected = SHAPE_RULES[op]([a.shape for a in arrays], attrs)
    if op is Op.ELEMENTWISE:
        attrs["shape"] = expected
    out = IMPLS[op](arrays, attrs)
    assert tuple(np.shape(out)) == tuple(expected)


def test_elementwise_bodies_are_sympy():
    _, attrs = EXAMPLES[Op.ELEMENTWISE]
    assert isinstance(attrs["body"], sympy.Basic)
