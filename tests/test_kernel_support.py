"""numeric.kernel_support plumbing against an independent reading: BLAS threads as threadpoolctl reports them,
row ranges against a direct partition, and the simulation's bound-breaking rule against its definition."""

from __future__ import annotations

import threading

import numpy as np  # noqa: F401  (loads OpenBLAS, so threadpoolctl sees it)
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from attngrad.numeric.kernel_support import blas_threads, split_range
from attngrad.numeric.simulate import broke_a_bound


def blas_counts() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.skipif(not blas_counts(), reason="NumPy has no BLAS threadpoolctl knows")
def test_blas_threads_limits_and_restores():
    before = blas_counts()
    with blas_threads(1):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with pytest.raises(RuntimeError), blas_threads(1):
        raise RuntimeError("the setting is restored on an error too")
    assert blas_counts() == before


@pytest.mark.skipif(not blas_counts(), reason="NumPy has no BLAS threadpoolctl knows")
def test_blas_threads_from_worker_threads_leave_the_setting_as_found():
    before, seen = blas_counts(), []

    def work():
        with blas_threads(1):
            seen.append(blas_counts())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and blas_counts() == before


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_split_range_partitions_the_rows_evenly(n, parts):
    ranges = split_range(n, parts)
    covered = [i for lo, hi in ranges for i in range(lo, hi)]
    assert covered == list(range(n))
    sizes = [hi - lo for lo, hi in ranges]
    assert len(ranges) == min(n, parts)
    assert all(s > 0 for s in sizes) or n == 0
    assert not sizes or max(sizes) - min(sizes) <= 1


def summary(pl_holds: int, pl_checks: int, exact: bool, held: int, checked: int) -> dict:
    return {"pl_holds": pl_holds, "pl_checks": pl_checks, "rate": {"exact": exact, "held": held, "checked": checked}}


@given(st.integers(0, 5), st.integers(0, 5), st.booleans(), st.integers(0, 5), st.integers(0, 5))
def test_a_run_breaks_a_bound_when_a_pl_check_or_an_exact_rate_check_fails(ph, pm, exact, rh, rm):
    pl_checks, checked = ph + pm, rh + rm
    s = summary(ph, pl_checks, exact, rh, checked)
    assert broke_a_bound(s) == (pm > 0 or (exact and rm > 0))


@pytest.mark.skipif(not blas_counts(), reason="NumPy has no BLAS threadpoolctl knows")
def test_threadpoolctl_limits_of_other_threads_still_work_after_blas_threads():
    from threadpoolctl import threadpool_limits

    with blas_threads(1):
        pass
    seen = []

    def other():
        with threadpool_limits(limits=1, user_api="blas"):
            seen.append(blas_counts())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [[1] * len(blas_counts())]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_child_forked_inside_blas_threads_leaves_it_cleanly():
    import os

    pid = -1
    try:
        with blas_threads(1):
            pid = os.fork()  # the child leaves this context too, with the fresh state it was given
    except BaseException:
        if pid == 0:
            os._exit(1)
        raise
    if pid == 0:
        os._exit(0)  # without pytest's teardown
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
