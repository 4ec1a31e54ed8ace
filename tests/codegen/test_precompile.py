"""codegen.load.precompile: a new module's glue kernel is compiled by a helper process while the
passes compile here; whatever happens to the helper, the results are the same."""

import json
import sys

import pytest
from corpus_cases import corpus_case

pytest.importorskip("numba")

import codegen  # noqa: E402
from codegen.load import precompile  # noqa: E402

CASE = "nn_mlp_ce"  # a pass kernel and a glue kernel


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A new kernel cache, so the module is new."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYMGRAD_PRECOMPILE", raising=False)
    monkeypatch.setattr(codegen, "_modules", {})  # not loaded in this process yet either
    return tmp_path


@pytest.fixture
def helpers(monkeypatch):
    """The helpers started (None where none was)."""
    started = []
    real = precompile.start

    def spy(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(precompile, "start", spy)
    return started


@pytest.fixture
def broken_helper(fresh_cache, monkeypatch):
    """Helpers given a spec naming a missing module: each exits with an error."""
    real_dump = json.dump

    def broken_spec(spec, f):
        real_dump(dict(spec, path=str(fresh_cache / "missing.py")), f)

    monkeypatch.setattr(precompile.json, "dump", broken_spec)


def _glue_stats(run):
    from codegen.load.jit import kernels_of

    glue = kernels_of(sys.modules[run.__module__])["glue1"]
    return sum(glue.stats.cache_hits.values()), sum(glue.stats.cache_misses.values())


@pytest.mark.slow
def test_the_helper_compiles_the_glue_and_this_process_loads_it(fresh_cache, helpers):
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper is not None and helper.kernels == ["glue1"] and helper.finished
    hits, misses = _glue_stats(run)
    assert (hits, misses) == (1, 0), "the glue came from the helper's machine code"
    case.check(run(case.arrays))
    assert codegen.compile_program(case.program) is run and len(helpers) == 1  # not new


@pytest.mark.slow
def test_the_helper_uses_this_process_numba_cache_whatever_the_environment_says_now(
        fresh_cache, helpers, monkeypatch, tmp_path):
    # Numba read NUMBA_CACHE_DIR when it was imported; a later change of the environment
    # must not send the helper's machine code where this process does not look
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    case = corpus_case("mlp_tanh")  # a pass and a glue kernel
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper is not None and helper.finished
    assert _glue_stats(run) == (1, 0)


@pytest.mark.slow
def test_a_failed_helper_leaves_the_compile_to_this_process(fresh_cache, helpers,
                                                           broken_helper):
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper is not None and helper.finished is False
    assert _glue_stats(run) == (0, 1), "compiled here"


@pytest.mark.slow
def test_under_debug_the_helper_writes_its_steps_and_this_process_prints_them(
        fresh_cache, helpers, monkeypatch, capfd):
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper is not None and helper.finished
    steps = [step for step, _ in helper.timeline]
    order = ["ready", "module loaded", "sub-kernels compiled", "glue compiled"]
    assert "module loaded" in steps and steps[-1] == "glue compiled"
    assert steps == [step for step in order if step in steps]  # each once, in this order
    times = [t for _, t in helper.timeline]
    assert times == sorted(times) and times[-1] > 0
    err = capfd.readouterr().err
    assert "glue1: waited" in err and "module loaded +" in err and "glue compiled +" in err


def test_a_timeline_cut_short_keeps_the_whole_lines_before_it(tmp_path):
    (tmp_path / precompile.TIMELINE).write_text("10.5 ready\n11.25 module loaded\n12.")
    assert precompile.read_timeline(str(tmp_path), 10.0) == [("ready", 0.5),
                                                             ("module loaded", 1.25)]
    assert precompile.describe_timeline([("ready", -0.125), ("glue compiled", 2.0)]) == \
        "ready -125 ms, glue compiled +2000 ms"
    assert precompile.read_timeline(str(tmp_path / "missing"), 0.0) == []
    assert precompile.describe_timeline([]) == "no steps written"


@pytest.mark.slow
def test_a_slow_helper_is_stopped_and_not_waited_for(fresh_cache, helpers, monkeypatch):
    monkeypatch.setattr(precompile, "WAIT_S", 0.2)
    monkeypatch.setattr(precompile, "_command",
                        lambda spec: [sys.executable, "-c", "import time; time.sleep(60)"])
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper.finished is False and helper.proc.returncode is not None  # killed


def test_a_helper_only_for_a_glue_beside_a_big_pass(tmp_path, monkeypatch):
    from codegen.schedule import Schedule

    monkeypatch.delenv("SYMGRAD_PRECOMPILE", raising=False)

    def start(name):
        schedule = Schedule(corpus_case(name).program)
        return precompile.start(str(tmp_path / "none.py"), "none", schedule, {})

    assert start("mse") is None  # one kernel: no glue
    assert start("batchnorm") is None  # passes only
    monkeypatch.setenv("SYMGRAD_PRECOMPILE", "0")
    assert start(CASE) is None
    monkeypatch.delenv("SYMGRAD_PRECOMPILE")
    helper = start(CASE)
    assert helper is not None and helper.wait() is False  # (there is no such module)


@pytest.fixture
def no_waiting_helper(monkeypatch):
    """No helper started ahead by an earlier test; the one a test starts is let go after."""
    monkeypatch.setattr(precompile, "_warm", None)
    yield
    if precompile._warm is not None:
        precompile._dismiss(precompile._warm[0])


@pytest.mark.slow
def test_a_helper_started_ahead_gets_the_spec_and_compiles_the_glue(fresh_cache, helpers,
                                                                     no_waiting_helper):
    precompile.warm()
    waiting = precompile._warm[0]
    precompile.warm()  # one waits at most
    assert precompile._warm[0] is waiting
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper.proc is waiting and helper.finished and precompile._warm is None
    assert _glue_stats(run) == (1, 0), "the glue came from the waiting helper's machine code"


@pytest.mark.slow
def test_a_helper_started_under_another_environment_is_let_go(fresh_cache, helpers,
                                                              no_waiting_helper, monkeypatch):
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", "3")  # the level the helper would compile at
    precompile.warm()
    waiting = precompile._warm[0]
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", "2")  # changed since: a new helper, at level 2
    case = corpus_case(CASE)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))
    (helper,) = helpers
    assert helper.proc is not waiting and helper.finished
    assert waiting.wait(10) == 0  # its input closed: it ended
    assert _glue_stats(run) == (1, 0)


def test_no_helper_is_started_ahead_when_helpers_are_off(monkeypatch, no_waiting_helper):
    monkeypatch.setenv("SYMGRAD_PRECOMPILE", "0")
    precompile.warm()
    assert precompile._warm is None


def test_a_waiting_helper_whose_input_closes_exits_without_compiling(no_waiting_helper,
                                                                     monkeypatch):
    monkeypatch.delenv("SYMGRAD_PRECOMPILE", raising=False)
    precompile.warm()
    proc = precompile._warm[0]
    precompile._dismiss(proc)
    assert proc.wait(60) == 0


def _w6_program(size):
    """W6's convnet (its value and gradients), whose pass kernel is split
    (codegen.render.split), on 1 x ``size`` x ``size`` images, and its input arrays. Each test
    takes its own size: one module text has one tail per process (`native_call.subkernel`)."""
    import numpy as np

    import symgrad as sg
    from bench.symgrad_impls import w6_loss

    rng = np.random.default_rng(size)
    args = [rng.standard_normal((5, 1, size, size)), rng.integers(0, 10, 5),
            rng.standard_normal((8, 1, 3, 3)), rng.standard_normal(8),
            0.3 * rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16),
            0.1 * rng.standard_normal((10, 16 * (size - 4) ** 2)), rng.standard_normal(10)]
    cf = sg.compile(w6_loss, wrt=[2, 3, 4, 5, 6, 7], backend="numpy")
    return cf.graph(*args), args


def _tail_of(run):
    from codegen.native_call import subkernels_in

    (sub,) = subkernels_in(sys.modules[run.__module__])
    return sub


def _check_w6(program, arrays, got):
    import numpy as np

    from symgrad.ir.interpret import evaluate

    want = evaluate(program, arrays)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_the_helper_compiles_a_split_kernels_tail_first_and_this_process_loads_it(
        fresh_cache, helpers):
    program, arrays = _w6_program(15)
    run = codegen.compile_program(program)
    tail = _tail_of(run)
    (helper,) = helpers
    assert helper is not None and tail.wait == helper.wait_subkernels
    assert not tail.cell.value  # bound on the kernel's first call
    _check_w6(program, arrays, run(arrays))
    assert tail.cell.value and helper.finished
    stats = tail.dispatcher.stats
    assert (sum(stats.cache_hits.values()), sum(stats.cache_misses.values())) == (1, 0)
    assert _glue_stats(run) == (1, 0)


@pytest.mark.slow
def test_a_failed_helper_leaves_the_tail_to_this_process(fresh_cache, helpers, broken_helper):
    program, arrays = _w6_program(14)
    run = codegen.compile_program(program)
    _check_w6(program, arrays, run(arrays))
    (helper,) = helpers
    assert helper is not None and helper.finished is False
    stats = _tail_of(run).dispatcher.stats
    assert (sum(stats.cache_hits.values()), sum(stats.cache_misses.values())) == (0, 1)
