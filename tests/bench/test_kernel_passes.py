"""bench.kernel_passes: a workload's kernels report their own cold compile records."""

import pytest

pytest.importorskip("numba")

from bench import kernel_passes  # noqa: E402


@pytest.mark.slow
def test_every_kernel_of_a_small_workload_reports_its_passes():
    res = kernel_passes.run("W5", llvm=True)
    assert res["total_s"] > 0 and res["kernels"]
    for k in res["kernels"]:
        # the passes sum to at least their slowest one; LLVM runs inside Numba's lowering
        assert k["passes_s"] >= k["front"][0][1] > 0
        assert 0 < k["timers"]["llvm_lock"]
        assert [stage for stage, _, _ in k["llvm"]][-1] == "Finalize object"
    text = kernel_passes.report("W5", res)
    assert all(k["kernel"] in text for k in res["kernels"])
