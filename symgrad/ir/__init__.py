"""The IR: hash-consed SSA nodes, programs, a jaxpr-like printer and a reference interpreter."""

from .node import Node, make_node  # noqa: F401
from .program import Program  # noqa: F401
