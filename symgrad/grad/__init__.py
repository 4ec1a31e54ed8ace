"""Reverse mode: VJP rules (one table) shared by eager autograd and symbolic differentiation."""
