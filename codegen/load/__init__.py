"""Stage 5, source file -> running module: the on-disk cache (`cache`), import and Numba
compilation (`jit`), a helper process compiling a new module's glue kernels (`precompile`)."""
