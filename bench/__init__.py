"""Benchmarks for symgrad: workloads, Numba ceilings, peers and the runner."""
