"""The `symgrad` console script: every subcommand run as ``python -m symgrad ...``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOSSES = os.path.join("examples", "losses.py")
MSE_ARGS = ["--arg", "x=16x3", "--arg", "w=3", "--arg", "b=", "--arg", "y=16", "--wrt", "w,b"]


def symgrad(*args, env=None, timeout=300):
    """Run ``python -m symgrad ARGS`` from the repository root; the completed process."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "symgrad", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def ok(proc):
    """Assert the process succeeded (showing its output if not); its stdout."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_help_lists_subcommands():
    out = ok(symgrad("--help"))
    for cmd in ("demo", "formulas", "source", "bench"):
        assert cmd in out


def test_demo_quick():
    out = ok(symgrad("demo", "--quick"))
    assert "2·x·(w·x − y)" in out
    assert "8.0" in out


def test_formulas():
    out = ok(symgrad("formulas", f"{LOSSES}:linear_mse", *MSE_ARGS))
    assert "∂linear_mse/∂w" in out and "∂linear_mse/∂b" in out
    assert "Σ" in out


def test_formulas_latex():
    out = ok(symgrad("formulas", f"{LOSSES}:linear_mse", *MSE_ARGS, "--latex"))
    assert "\\frac" in out and "\\sum" in out and "\\partial" in out


def test_formulas_missing_arg_is_an_error():
    proc = symgrad("formulas", f"{LOSSES}:linear_mse", "--arg", "x=16x3")
    assert proc.returncode != 0
    assert "missing --arg" in proc.stderr


def test_source():
    out = ok(symgrad("source", f"{LOSSES}:linear_mse", *MSE_ARGS))
    assert "njit" in out or "def " in out


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("rich", "matplotlib")),
                    reason="needs the bench extra (rich, matplotlib)")
def test_bench_quick(tmp_path):
    out_dir = tmp_path / "bench"
    proc = symgrad("bench", "--quick", "--peers", "none", "--out", str(out_dir), timeout=600)
    ok(proc)
    res = json.loads((out_dir / "results.json").read_text())
    assert res["mode"] == "quick" and res["date"] and res["machine"]["cpu_count"]
    assert res["peers_selected"] == [] and res["failures"] == []
    for key in ("W1", "W2", "W3", "W4", "W5"):
        rows = {r["impl"]: r for r in res["results"] if r["workload"] == key}
        for impl in ("symgrad eager", "symgrad compiled", "numpy reference", "numba serial"):
            assert impl in rows, (key, impl)
            assert rows[impl]["median"] > 0 and len(rows[impl]["times"]) >= 5
        assert rows["symgrad compiled"]["speedup_vs_eager"] > 0
    assert {r["workload"] for r in res["results"]} == {"W1", "W2", "W3", "W4", "W5"}
    assert {r["n"] for r in res["w1_sweep"]} >= {100, 100_000}
    w1 = next(r for r in res["results"] if r["workload"] == "W1" and r["impl"] ==
              "symgrad compiled")
    assert w1["bw_limit_s"] > 0 and w1["bw_fraction"] > 0
    lat = {r["workload"]: r for r in res["compile_latency"]}
    assert lat["W1"]["cold"]["total_s"] > 0 and lat["W1"]["warm"]["total_s"] > 0
    assert lat["W1"]["first_use"]["total_s"] > 0
    for png in ("speedup.png", "w1_scaling.png"):
        data = (out_dir / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert "symgrad compiled" in (out_dir / "table.txt").read_text()


def test_bench_unknown_peer_is_an_error(tmp_path):
    pytest.importorskip("rich")
    pytest.importorskip("matplotlib")
    proc = symgrad("bench", "--quick", "--peers", "tensorflow", "--out", str(tmp_path))
    assert proc.returncode != 0
    assert "unknown peer" in proc.stderr + proc.stdout


def test_bench_disagreement_fails(tmp_path, monkeypatch, capsys):
    """An implementation whose gradient is off makes the suite exit non-zero."""
    pytest.importorskip("rich")
    pytest.importorskip("matplotlib")
    from bench import registry, suite
    from bench.workloads import WORKLOADS

    def wrong(data):
        loss, grads = WORKLOADS["W5"].reference(data)
        return lambda: (loss, {**grads, "w": grads["w"] * (1 + 1e-6)})

    monkeypatch.setitem(registry.IMPLEMENTATIONS, "W5", {"wrong grad": wrong})
    rc = suite.main(["--quick", "--peers", "none", "--workload", "W5", "--no-sweep",
                     "--no-latency", "--out", str(tmp_path)])
    assert rc == 1
    res = json.loads((tmp_path / "results.json").read_text())
    assert any("wrong grad" in f for f in res["failures"])
    assert "disagreed" in capsys.readouterr().out


def test_bench_times_a_peer_in_its_own_process():
    """A peer (here torch eager) is checked and timed in a new interpreter, where Numba has
    started no threads (beside them torch ran up to 9x slower)."""
    pytest.importorskip("torch")
    pytest.importorskip("rich")
    from bench import suite

    row = suite.run_peer_in_own_process("W5", 1, "torch eager", 0.01, 1e-8, 0, ())
    assert row["impl"] == "torch eager" and row["workload"] == "W5"
    assert row["median"] > 0 and "skipped" not in row
    assert row["process"] == "own" and row["numba_threads_started"] is False


def test_bench_a_peer_that_disagrees_in_its_process_fails_the_suite(monkeypatch):
    """A disagreement found in the peer's own process is raised as the in-process one is."""
    pytest.importorskip("rich")
    import bench.child
    from bench import suite

    monkeypatch.setattr(bench.child, "run_child",
                        lambda code, env, what, timeout: {"assertion": "W5 gradient of w off"})
    with pytest.raises(AssertionError, match="W5 gradient of w off"):
        suite.run_peer_in_own_process("W5", 1, "torch eager", 0.01, 1e-8, 0, ())
