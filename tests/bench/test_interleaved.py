"""bench.interleaved: alternating rounds give per-call medians and a ratio that agree."""

from __future__ import annotations

import pytest

pytest.importorskip("numba")

from bench.interleaved import main, measure  # noqa: E402


def test_measure_times_both_and_the_ratio_is_of_the_same_rounds():
    r = measure("W5", 1, "numba serial", rounds=5, round_s=0.002)
    assert r["symgrad"] > 0 and r["other"] > 0
    # the median of per-round ratios lies within the range those medians allow
    assert 0.2 * r["symgrad"] / r["other"] < r["ratio"] < 5 * r["symgrad"] / r["other"]


def test_cli_prints_one_line_per_case(capsys):
    assert main(["--case", "W5:1:numba serial", "--case", "W1:100:numba serial",
                 "--rounds", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("ratio (median of rounds)" in ln for ln in lines)


def test_a_peer_of_bench_peers_is_a_baseline():
    pytest.importorskip("torch")
    r = measure("W5", 1, "torch eager", rounds=3, round_s=0.002)
    assert r["baseline"] == "torch eager" and r["other"] > 0 and r["ratio"] > 0
