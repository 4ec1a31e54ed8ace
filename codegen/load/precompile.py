"""Compiling a new module's glue kernels in a helper process, while this one compiles its passes.

Numba compiles one function at a time per process (a global lock), and a cold start of a
program with a pass kernel and a separate glue kernel compiles both in turn. This machine has
a second core: a helper process (`main`, ``python -m codegen.load.precompile SPEC``) imports the
module under the same name, compiles its glue kernels into Numba's disk cache, and exits; the
first call of each glue kernel here waits for the helper and then loads the machine code from
that cache. A pass kernel split in two (`codegen.render.split`) has its tail compiled there
first, while this process compiles the rest; the tail is bound here on the kernel's first call
(`codegen.native_call.subkernel`), after a wait for the helper. The helper never runs a kernel:
it drives the module's ``run`` with stand-in inputs (the program's dtypes and ranks,
C-contiguous, every symbolic size 2), the pass kernels replaced by no-ops, and each glue kernel
compiled for the argument types it is given and answered with stand-ins of its return type.

Nothing depends on the helper. If its types differ from the real call's (a non-contiguous
input, say), it fails, or it has not finished within `WAIT_S`, this process compiles the
kernel itself, as it would have without it. ``SYMGRAD_PRECOMPILE=0`` turns it off.

The helper is usually the last to finish a cold start, so what it does after its last compile
counts: it leaves through ``os._exit`` (an interpreter's shutdown with Numba loaded took ~0.65 s
in a slow phase of this machine, which this process spent waiting), and it is started before
this process imports Numba (`codegen.available` does not import it), so its own start runs
beside that import. Under ``SYMGRAD_DEBUG`` it writes when each of its steps ended (ready, module
loaded, sub-kernels compiled, glue compiled) and the first glue call here prints them beside
its wait, in ms after the helper was given its spec.

A training step's compiled loop (`codegen.training_loop`) is compiled the same way, by
`start_loop`, once ``step`` has run long enough to be worth it (`symgrad.fit_loop`): the
helper loads the step's module (with this process's constants) and the loop's module under
their names, and compiles the loop function for the signature it is given into Numba's disk
cache, from which this process then loads it, without stopping a training loop to compile.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

STANDIN_SIZE = 2
SUBKERNELS_DONE = "subkernels.done"
# With SYMGRAD_DEBUG set, the helper writes when each of its steps ended into this file in its
# folder (`_mark`), and this process prints them when it has waited for it (`Helper.wait`)
TIMELINE = "timeline.txt"
WAIT_S = 30.0
# A helper pays ~0.6 s to start (Python, Numba, its first compile): only worth it beside a pass
# kernel that takes longer than that to compile (about 25 ms per loop measured).
MIN_PASS_LOOPS = 12


def enabled() -> bool:
    """False when ``SYMGRAD_PRECOMPILE=0``."""
    return os.environ.get("SYMGRAD_PRECOMPILE", "1") != "0"


class Helper:
    """A helper process compiling ``kernels`` of one module."""

    def __init__(self, proc, kernels, spec_dir):
        self.proc, self.kernels, self._dir = proc, kernels, spec_dir
        self._lock = threading.Lock()
        self.finished = None  # True: exited cleanly; False: failed or timed out
        self.given = time.monotonic()  # when it was given its spec
        self.timeline: list = []  # (step, seconds after `given`), read under SYMGRAD_DEBUG

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the helper (once, at most ``timeout`` or `WAIT_S` seconds); whether it
        compiled everything it was given."""
        with self._lock:
            if self.finished is None:
                try:
                    self.finished = self.proc.wait(WAIT_S if timeout is None else timeout) == 0
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    self.finished = False
                self.timeline = read_timeline(self._dir.name, self.given)
                self._dir.cleanup()
            return self.finished

    def wait_subkernels(self) -> bool:
        """Wait until the helper has compiled the module's sub-kernels (it leaves the file
        `SUBKERNELS_DONE` in its folder, then goes on to the glue), or has ended."""
        marker = os.path.join(self._dir.name, SUBKERNELS_DONE)
        deadline = time.monotonic() + WAIT_S
        while self.finished is None and self.proc.poll() is None and \
                time.monotonic() < deadline:
            if os.path.exists(marker):
                return True
            time.sleep(0.002)
        return self.wait()


def read_timeline(folder: str, since: float) -> list:
    """The steps a helper wrote to `TIMELINE` in ``folder`` (none without SYMGRAD_DEBUG), each
    as (step, seconds after ``since``), in the order it wrote them."""
    try:
        with open(os.path.join(folder, TIMELINE), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    steps = []
    for line in text.split("\n")[:-1]:  # not a last line cut short (the helper was killed)
        stamp, _, step = line.partition(" ")
        steps.append((step, float(stamp) - since))
    return steps


def describe_timeline(steps: list) -> str:
    """``steps`` (`read_timeline`) as one line: when each step ended, in ms after the spec was
    given (negative: before it, as a helper started ahead gets ready)."""
    return ", ".join(f"{step} {1e3 * t:+.0f} ms" for step, t in steps) or "no steps written"


def start(path: str, name: str, schedule, consts: dict) -> Helper | None:
    """Start a helper compiling the glue kernels of the module at ``path`` (imported as
    ``name``), or None when it is not worth it."""
    from codegen.schedule import loop_count

    glue = [k.name for k in schedule.kernels if k.kind == "glue"]
    passes = [k for k in schedule.kernels if k.kind == "pass"]
    if not glue or schedule.fallbacks or not enabled() or \
            sum(loop_count(k.body) for k in passes) < MIN_PASS_LOOPS:
        return None
    inputs = [[n.dtype.np.str, [int(d) if getattr(d, "is_Integer", False) or
                                isinstance(d, int) else None for d in n.shape]]
              for n in schedule.program.inputs]
    folder = tempfile.TemporaryDirectory(prefix="symgrad_precompile_")
    np.savez(os.path.join(folder.name, "consts.npz"), **consts)
    spec = {"path": path, "name": name, "inputs": inputs, "glue": glue,
            "passes": [k.name for k in passes]}
    return _spawn(folder, spec, glue)


def _spawn(folder, spec: dict, kernels: list) -> Helper | None:
    """Write ``spec`` beside the files already in ``folder`` and start the helper on it (the
    helper `warm` started, when it was started with this process's environment)."""
    spec_path = os.path.join(folder.name, "spec.json")
    with open(spec_path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    env = _helper_env()
    proc = _take_warm(env)
    if proc is not None:
        try:
            proc.stdin.write((spec_path + "\n").encode())
            proc.stdin.close()
        except OSError:  # it died meanwhile
            _dismiss(proc)
            proc = None
    if proc is None:
        try:
            proc = subprocess.Popen(_command(spec_path), env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            folder.cleanup()
            return None
    return Helper(proc, kernels, folder)


def _helper_env() -> dict:
    """The environment of a helper process: this one's, with this process's import path and
    Numba cache folder."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
    # Numba read its cache folder when it was imported here: the helper must use that one,
    # whatever the environment says now (not imported yet: it will read today's environment)
    numba = sys.modules.get("numba")
    if numba is None:
        return env
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    else:
        env.pop("NUMBA_CACHE_DIR", None)
    return env


# A helper started ahead (`warm`): (process, its environment, its command), or None.
_warm = None
_warm_lock = threading.Lock()


def warm() -> None:
    """Start a helper process ahead of a compile, when none is waiting: it imports NumPy and
    Numba and compiles a first function (~0.6 s, on the second core) while this process
    traces, differentiates and schedules, then waits for a spec file's path on its standard
    input (`_spawn`). One at most waits; it ends when its input closes (this process exits,
    or `_dismiss`)."""
    global _warm
    if not enabled():
        return
    with _warm_lock:
        if _warm is not None and _warm[0].poll() is None:
            return
        env, command = _helper_env(), _command(None)
        try:
            proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            _warm = None
            return
        _warm = (proc, env, command)


def _take_warm(env: dict):
    """The waiting helper, if it was started with ``env`` and today's command and is alive;
    else None (a mismatched one is dismissed)."""
    global _warm
    with _warm_lock:
        waiting, _warm = _warm, None
    if waiting is None:
        return None
    proc, warm_env, command = waiting
    if warm_env != env or command != _command(None) or proc.poll() is not None:
        _dismiss(proc)
        return None
    return proc


def _dismiss(proc) -> None:
    """Let a waiting helper go: its input closes and it exits."""
    try:
        proc.stdin.close()
    except OSError:
        proc.kill()


# A module's constants (`codegen._load` records them under this name in the module), which a
# helper compiling its kernels must bind exactly as this process did: Numba freezes globals.
CONSTS = "SYMGRAD_CONSTS"


def start_loop(fn, args) -> Helper | None:
    """Start a helper compiling ``fn`` (a loop function of a `codegen.training_loop` module)
    for arguments like ``args`` into Numba's disk cache; None when off or not possible."""
    if not enabled():
        return None
    try:
        loop = sys.modules[fn.py_func.__module__]
        step = sys.modules[loop.run_jit.py_func.__module__]
        consts = getattr(step, CONSTS)
        signature = tuple(fn.typeof_pyval(a) for a in args)
    except (KeyError, AttributeError, ValueError, TypeError):
        return None
    folder = tempfile.TemporaryDirectory(prefix="symgrad_precompile_")
    np.savez(os.path.join(folder.name, "consts.npz"), **consts)
    with open(os.path.join(folder.name, "signature.pickle"), "wb") as f:
        pickle.dump(signature, f)
    spec = {"kind": "loop", "step": [step.__file__, step.__name__],
            "loop": [loop.__file__, loop.__name__], "function": fn.py_func.__name__}
    return _spawn(folder, spec, [fn.py_func.__name__])


def _command(spec_path: str | None) -> list:
    """The helper's command line (``None``: a helper that waits for its spec file's path on
    its standard input, see `warm`)."""
    return [sys.executable, "-m", "codegen.load.precompile",
            "--wait" if spec_path is None else spec_path]


class _FirstCall:
    """Stands for a glue kernel in its module until its first call: waits for the helper,
    puts the kernel back and calls it (Numba then finds the helper's machine code)."""

    def __init__(self, module, name, helper):
        self._module, self._name, self._helper = module, name, helper
        self._kernel = getattr(module, name)

    def __call__(self, *args):
        from symgrad import debug

        t0 = time.perf_counter()
        ok = self._helper.wait()
        setattr(self._module, self._name, self._kernel)
        debug.log(1, f"codegen: {self._name}: waited {1e3 * (time.perf_counter() - t0):.0f} ms "
                     f"for the helper process ({'done' if ok else 'failed'}); its steps ended: "
                     f"{describe_timeline(self._helper.timeline)}")
        return self._kernel(*args)

    def __getattr__(self, attr):
        return getattr(self._kernel, attr)


def install(module, helper: Helper) -> None:
    """Route the first call of each of the helper's kernels in ``module`` through a wait; the
    module's sub-kernels (`codegen.render.split`) wait for it before they are bound."""
    from codegen.native_call import subkernels_in

    for name in helper.kernels:
        setattr(module, name, _FirstCall(module, name, helper))
    for sub in subkernels_in(module):
        sub.wait = helper.wait_subkernels


# --- the helper process --------------------------------------------------------------------

class _Stop(Exception):
    """The stand-in run cannot go on (a pass kernel's results are needed)."""


def _standin(numba_type):
    """A value of ``numba_type`` (zeros), for the driver to pass on."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype

    if isinstance(numba_type, types.Array):
        return np.zeros((STANDIN_SIZE,) * numba_type.ndim, as_dtype(numba_type.dtype))
    if isinstance(numba_type, types.BaseTuple):
        return tuple(_standin(t) for t in numba_type.types)
    if isinstance(numba_type, (types.Number, types.Boolean)):
        return np.zeros((), as_dtype(numba_type))[()]
    if numba_type is types.none:
        return None
    raise _Stop(str(numba_type))


def _compile_only(kernel):
    import numba

    def call(*args):
        signature = tuple(numba.typeof(a) for a in args)
        kernel.compile(signature)
        return _standin(kernel.overloads[signature].signature.return_type)

    return call


def _no_pass(*args):
    return None


def _mark(folder: str, step: str, when: float | None = None) -> None:
    """Under SYMGRAD_DEBUG, add when ``step`` ended (``when``, or now; Linux's monotonic clock,
    which every process shares) to the `TIMELINE` in ``folder``. The variable is read here, not
    through `symgrad.debug`: the helper never imports symgrad (nor so SymPy)."""
    if os.environ.get("SYMGRAD_DEBUG", "0") in ("", "0"):
        return
    with open(os.path.join(folder, TIMELINE), "a", encoding="utf-8") as f:
        f.write(f"{time.monotonic() if when is None else when:.6f} {step}\n")


def main(spec_path: str) -> int:
    """The helper: compile the glue kernels named in the spec file into Numba's cache."""
    from codegen.load.jit import load_module
    from codegen.runtime import load_cython_blas

    folder = os.path.dirname(spec_path)
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    with np.load(os.path.join(folder, "consts.npz")) as data:
        consts = {k: data[k] for k in data.files}
    load_cython_blas()
    globals_ = {k: v[()] if v.ndim == 0 else v for k, v in consts.items()}
    if spec.get("kind") == "loop":
        return _compile_loop(spec, folder, globals_)
    module = load_module(spec["path"], spec["name"], jit=True, bindings=globals_)
    from codegen.native_call import subkernels_in
    from codegen.runtime import ONE_CHUNK

    _mark(folder, "module loaded")
    subkernels = subkernels_in(module)
    for sub in subkernels:  # first: the pass kernel calling it waits for it
        sub.dispatcher.compile(sub.sig)
    if subkernels:
        _mark(folder, "sub-kernels compiled")
        open(os.path.join(folder, SUBKERNELS_DONE), "w").close()

    for name in spec["passes"]:
        for kernel in (name, name + ONE_CHUNK):  # the pass and its one-chunk entry, if any
            if hasattr(module, kernel):
                setattr(module, kernel, _no_pass)
    for name in spec["glue"]:
        setattr(module, name, _compile_only(getattr(module, name)))
    inputs = [np.zeros([STANDIN_SIZE if d is None else d for d in shape], dtype)
              for dtype, shape in spec["inputs"]]
    try:
        module.run(inputs)
    except _Stop:
        return 1
    _mark(folder, "glue compiled")
    return 0


def _compile_loop(spec: dict, folder: str, globals_: dict) -> int:
    """The helper for `start_loop`: the step's module, then the loop's (bound to the step's
    ``run_jit``), and the loop function compiled for the pickled signature."""
    from codegen.load.jit import load_module

    step = load_module(*spec["step"], jit=True, bindings=globals_)
    loop = load_module(*spec["loop"], jit=True, bindings={"run_jit": step.run_jit})
    with open(os.path.join(folder, "signature.pickle"), "rb") as f:
        signature = pickle.load(f)
    getattr(loop, spec["function"]).compile(signature)
    _mark(folder, "loop compiled")
    return 0


def wait_for_spec() -> int:
    """A helper started by `warm`: import and compile what every helper needs, then run
    `main` on the spec file whose path arrives on standard input (none: exit)."""
    import numba

    from codegen import blas  # noqa: F401  (registers the products' lowering)
    from codegen.load.jit import load_module  # noqa: F401
    from codegen.runtime import load_cython_blas

    load_cython_blas()
    numba.njit(lambda x: x + 1)(1)  # Numba's first compile in a process sets up its target
    ready = time.monotonic()
    line = sys.stdin.readline().strip()
    if line:
        _mark(os.path.dirname(line), "ready", ready)  # often before the spec was given
    return main(line) if line else 0


if __name__ == "__main__":
    code = wait_for_spec() if sys.argv[1] == "--wait" else main(sys.argv[1])
    # Everything the helper makes is on disk by now (Numba writes each cache entry as it
    # compiles): leave without the interpreter's shutdown, which with Numba loaded took
    # ~0.65 s (slow phase) that the process waiting for this one would wait too
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
