"""Many claims: their source (a file or ``package.module:function``), built once per process, and checked in
worker processes that rebuild them from that source."""

from __future__ import annotations

import importlib

from attngrad.errors import InputError

from ..claims import Claim, load_claims_file
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


def load_claims(source: str) -> list[Claim]:
    """The claims of ``source`` (see ``claims_of``), built afresh."""
    if source.endswith(".py") or ":" not in source:
        return load_claims_file(source)
    module, _, function = source.partition(":")
    return list(getattr(importlib.import_module(module), function)())


def _run_task(source: str, ids: list[str], indices: list[int], kwargs: dict) -> list[tuple[int, Verdict]]:
    claims = claims_of(source)
    out = []
    for i, claim_id in zip(indices, ids):
        claim = claims[i]
        if claim.id != claim_id:  # the worker built the claims differently: never check the wrong one
            raise InputError(f"Claim {claim_id} could not be rebuilt in a worker process (found {claim.id}).")
        out.append((i, check_claim(claim, **kwargs)))
    return out


def check_all(claims: list[Claim], source: str, *, jobs: int = 1, progress=None, **kwargs) -> list[Verdict]:
    """Verdicts of ``claims`` in order. ``source`` says where they come from (a user's
    file; see ``claims_of``), so that with ``jobs`` > 1 worker processes can rebuild them by position; each task (a group of claims
    that share a kernel, or one claim) runs in one worker, largest groups first. ``progress()`` after each claim.
    Claims that cannot be found again by id in the source (or repeat an id) are checked here, one by one."""
    known = [c.id for c in claims_of(source)] if jobs > 1 else []
    index = {cid: i for i, cid in enumerate(known)}
    if jobs <= 1 or len(claims) < 2 or len(index) != len(known) or any(c.id not in index for c in claims):
        out = []
        for c in claims:
            out.append(check_claim(c, **kwargs))
            if progress:
                progress()
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    tasks = sorted(_tasks(claims), key=len, reverse=True)
    verdicts: dict[int, Verdict] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_task, source, [claims[k].id for k in t], [index[claims[k].id] for k in t], kwargs)
                   for t in tasks]
        for fut in as_completed(futures):
            for i, v in fut.result():
                verdicts[i] = v
                if progress:
                    progress()
    return [verdicts[index[c.id]] for c in claims]
