"""bench.loop_warmup: a cold training loop in a fresh interpreter reports its timings."""

import pytest

pytest.importorskip("numba")

from bench import loop_warmup  # noqa: E402


@pytest.mark.slow
def test_a_short_cold_run_reports_its_steps():
    r = loop_warmup.run("foreground", "scalar", 2000)
    assert r["first_s"] > 0 and r["tail_s"] > 0
    assert r["total_s"] >= r["first_s"] + r["longest_later_s"]
    assert r["fast_from"] is None or 1 <= r["fast_from"] <= 2000
