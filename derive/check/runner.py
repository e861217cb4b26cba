"""Many claims: their source (a file or ``package.module:function``), built once per process, and checked in
worker processes that rebuild them from that source."""

from __future__ import annotations

import importlib
import os
import re
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from attngrad.errors import InputError

from ..claims import Claim, load_claims_file, unique_ids
from ..sampling import check_exact_sizes
from .rule import check_claim
from .verdict import Verdict


def _tasks(claims: list[Claim]) -> list[list[int]]:
    """Claim indices in tasks: a group's claims together (they compile one kernel), every other claim alone."""
    tasks: list[list[int]] = []
    where: dict[str, list[int]] = {}
    for i, c in enumerate(claims):
        if c.group and c.group in where:
            where[c.group].append(i)
        else:
            tasks.append([i])
            if c.group:
                where[c.group] = tasks[-1]
    return tasks


_LOADED: dict[str, list[Claim]] = {}


def claims_of(source: str, reload: bool = False) -> list[Claim]:
    """The claims of a source, built once per process (again with ``reload``: a user's file may have changed since).

    ``source`` is a Python file that defines claims (a user's ``--file``) or ``package.module:function``, a function
    returning a list of claims (the built-in ones: ``attngrad.derive.papers.registry:builtin_claims``). The engine
    knows no paper: whoever calls it names the source."""
    if reload or source not in _LOADED:
        _LOADED[source] = load_claims(source)
    return _LOADED[source]


#: a claim source that names a function returning claims, ``package.module:function``
CLAIM_FUNCTION = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")


def load_claims(source: str) -> list[Claim]:
    """The claims of ``source`` (see ``claims_of``), built afresh: ``package.module:function`` when it has that
    form and is no existing file, else a file (whose own errors are one sentence)."""
    if not CLAIM_FUNCTION.fullmatch(source) or Path(source).exists():
        return load_claims_file(source)
    module, _, function = source.partition(":")
    try:
        make = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        raise InputError(f"The file {source} does not exist, and no module has a function by that name.") from None
    return unique_ids(list(make()), source)


def check_one(claim: Claim, **kwargs) -> Verdict:
    """``check_claim``, with a claim that cannot be built or evaluated (an InputError of its own) turned into the
    verdict ``error``: its reason and where the claim was defined, so that the other claims still run."""
    t0 = time.perf_counter()
    try:
        return check_claim(claim, **kwargs)
    except InputError as exc:
        return Verdict(claim.id, claim.source, claim.printed, claim.statement, "error", [],
                       seconds=time.perf_counter() - t0, reason=str(exc), defined_at=claim.defined_at or None)


def _run_task(source: str, ids: list[str], indices: list[int], kwargs: dict) -> list[tuple[int, Verdict]]:
    claims = claims_of(source)
    out = []
    for i, claim_id in zip(indices, ids):
        claim = claims[i]
        if claim.id != claim_id:  # the worker built the claims differently: never check the wrong one
            raise InputError(f"Claim {claim_id} could not be rebuilt in a worker process (found {claim.id}).")
        out.append((i, check_one(claim, **kwargs)))
    return out


def process_count(jobs: int | None) -> int:
    """How many processes ``jobs`` asks for: one per core for None, and never more than the cores."""
    cores = os.cpu_count() or 1
    return cores if jobs is None else max(1, min(int(jobs), cores))


def check_all(claims: list[Claim], source: str, *, jobs: int | None = 1, progress=None, **kwargs) -> list[Verdict]:
    """Verdicts of ``claims`` in order. ``source`` says where they come from (a file or ``package.module:function``;
    see ``claims_of``), so that with ``jobs`` > 1 worker processes can rebuild them by position; each task (a group
    of claims that share a kernel, or one claim) runs in one worker, largest groups first. ``jobs``: None for one
    process per core, and never more processes than cores. ``progress()`` after each claim. A claim that cannot be
    built or evaluated gets the verdict ``error`` (``check_one``); an error of the source itself raises.
    Claims that cannot be found again by id in the source (or repeat an id) are checked here, one by one."""
    if "exact_sizes" in kwargs:  # the run's sizes are the run's error, not each claim's
        check_exact_sizes(tuple(kwargs["exact_sizes"]))
    jobs = process_count(jobs)
    known = [c.id for c in claims_of(source)] if jobs > 1 else []
    index = {cid: i for i, cid in enumerate(known)}
    if jobs <= 1 or len(claims) < 2 or len(index) != len(known) or any(c.id not in index for c in claims):
        out = []
        for c in claims:
            out.append(check_one(c, **kwargs))
            if progress:
                progress()
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    tasks = sorted(_tasks(claims), key=len, reverse=True)
    verdicts: dict[int, Verdict] = {}
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn"),
                               initializer=_worker_ignores_interrupts)
    futures = []
    try:
        with _interrupts_deferred():  # the workers start during submit, and start with SIGINT blocked
            for t in tasks:
                futures.append(pool.submit(_run_task, source, [claims[k].id for k in t],
                                           [index[claims[k].id] for k in t], kwargs))
        for fut in as_completed(futures):
            for i, v in fut.result():
                verdicts[i] = v
                if progress:
                    progress()
    except BaseException:  # a Ctrl-C here, or a task's error: end the workers now, not after the running tasks
        _stop(pool, futures)
        raise
    pool.shutdown()
    return [verdicts[index[c.id]] for c in claims]


# Interrupts. A Ctrl-C sends SIGINT to every process of the terminal's foreground group, the workers included.
# Only this process handles it (KeyboardInterrupt, turned into "Interrupted." and exit 130 by the command line):
# each worker ignores SIGINT from its first instruction on, because it starts with SIGINT blocked (inherited from
# the thread that submits) and its initializer ignores SIGINT before unblocking it, so a pending one is discarded
# and no worker prints a traceback; this process then cancels the tasks not started and terminates the workers.
# While workers start, a KeyboardInterrupt waits until the submits are done: raised inside ``Process.start``, it
# would leave a worker that is not yet the pool's (so never terminated) reading its start-up data from a pipe that
# is never written (an EOFError traceback).

@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """SIGINT blocked in the calling thread, so that processes started meanwhile start with it blocked, and (in the
    main thread) a SIGINT taken meanwhile by another thread of this process is only noted: KeyboardInterrupt is
    raised when the block ends."""
    main = threading.current_thread() is threading.main_thread()
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum)) if main else None
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a SIGINT pending here is noted, not raised
        if main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if noted:
        raise KeyboardInterrupt


def _worker_ignores_interrupts() -> None:
    """The workers' initializer: SIGINT ignored, then unblocked (a pending one is discarded)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _stop(pool, futures: list) -> None:
    """Cancel the tasks not started and terminate the workers (they ignore SIGINT), without waiting for the
    running tasks; a second Ctrl-C meanwhile is ignored, so that no worker is left running."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        for fut in futures:
            fut.cancel()
        workers = list((getattr(pool, "_processes", None) or {}).values())  # Python 3.14: pool.terminate_workers()
        pool.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(10)
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)
