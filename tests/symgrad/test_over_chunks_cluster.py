"""Compiled functions on Dask arrays over a real ``dask.distributed.LocalCluster``: two worker
processes with one thread each. The results equal the one-process call, kernels are loaded once
per worker (not per task), and a worker killed in the middle of a run changes nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn.functional as F

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

RNG = np.random.default_rng(5)
N, D, C = 40_000, 8, 5
X = RNG.standard_normal((N, D))
LABELS = RNG.integers(0, C, N)
W0 = 0.1 * RNG.standard_normal((C, D))
B0 = 0.1 * RNG.standard_normal(C)


def ce(X, labels, W, b):
    return F.cross_entropy(F.linear(X, W, b), labels)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes (1 thread each), and a client that Dask uses for
    every compute while the module runs."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _worker_stats(client):
    from symgrad import over_chunks
    return client.run(lambda: dict(over_chunks.stats))


def test_cluster_equals_one_process_and_loads_kernels_once_per_worker(client):
    cf = sg.compile(ce, wrt=(2, 3))
    want = cf.value_and_grad(X, LABELS, W0, B0)
    x = da.from_array(X, chunks=(2000, D))
    t = da.from_array(LABELS, chunks=2000)
    before = _worker_stats(client)
    got = [cf.value_and_grad(x, t, W0, B0) for _ in range(3)]
    after = _worker_stats(client)
    for value, grads in got:
        np.testing.assert_allclose(value, want[0], rtol=1e-12)
        for g, w in zip(grads, want[1]):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    assert all(g[0] == got[0][0] for g in got)  # the same tree of sums every time
    made = {w: after[w]["loaded"] + after[w]["compiled"] - before.get(w, {}).get(
        "loaded", 0) - before.get(w, {}).get("compiled", 0) for w in after}
    # 20 chunks x 3 calls ran on two workers; each made its runner at most once
    assert all(m <= 1 for m in made.values()), made
    assert sum(made.values()) >= 1


def _slow_blocks(x, delay):
    def slow(block):
        time.sleep(delay)
        return block
    return x.map_blocks(slow, dtype=x.dtype)


def test_a_killed_worker_changes_nothing(client):
    w = sg.tensor(W0.copy(), requires_grad=True)
    b = sg.tensor(B0.copy(), requires_grad=True)
    cf = sg.compile(lambda X, t: ce(X, t, w, b), wrt=[w, b])
    want = cf.value_and_grad(X, LABELS)
    x = _slow_blocks(da.from_array(X, chunks=(500, D)), 0.02)  # 80 tasks, ~1 s on 2 workers
    t = da.from_array(LABELS, chunks=500)
    pids = list(client.run(os.getpid).values())
    result = {}

    def run():
        result["value"] = cf.backward(x, t)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.4)
    assert thread.is_alive()  # killed in the middle of the run
    os.kill(pids[0], signal.SIGKILL)  # the nanny starts a new worker; Dask reruns its tasks
    thread.join(120)
    assert not thread.is_alive()
    np.testing.assert_allclose(result["value"], want[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), want[1][0], rtol=1e-12, atol=1e-15)  # once
    np.testing.assert_allclose(b.grad.numpy(), want[1][1], rtol=1e-12, atol=1e-15)
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()


def test_a_bad_label_on_a_worker_names_the_chunk(client):
    labels = LABELS.copy()
    labels[4321] = C
    cf = sg.compile(ce, wrt=(2, 3))
    with pytest.raises(IndexError, match=r"chunk 2 \(rows 4000:6000\).*Target 5 is out of "
                                         "bounds"):
        cf.value_and_grad(da.from_array(X, chunks=(2000, D)), da.from_array(labels, 2000),
                          W0, B0)


def _pretend_other_code(on):
    """In a worker: make the kernel cache see another version of symgrad's code (its keys,
    hence the client's source, no longer match), or undo that."""
    from codegen.load import cache
    if on:
        cache._real_fingerprint = cache.code_fingerprint
        cache.code_fingerprint = lambda: "another-version"
    elif hasattr(cache, "_real_fingerprint"):
        cache.code_fingerprint = cache._real_fingerprint


def test_a_worker_with_other_code_compiles_the_program_itself(client):
    def penalized(X, labels, W, b):
        return ce(X, labels, W, b) + 0.01 * (W * W).sum()

    cf = sg.compile(penalized, wrt=(2, 3))
    want = cf.value_and_grad(X, LABELS, W0, B0)
    client.run(_pretend_other_code, True)
    try:
        before = _worker_stats(client)
        value, grads = cf.value_and_grad(da.from_array(X, chunks=(5000, D)),
                                         da.from_array(LABELS, chunks=5000), W0, B0)
        after = _worker_stats(client)
    finally:
        client.run(_pretend_other_code, False)
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    for g, w in zip(grads, want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    assert sum(after[w]["compiled"] - before[w]["compiled"] for w in after) >= 1
