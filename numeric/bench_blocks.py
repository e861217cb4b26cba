"""`attngrad bench blocks`: the rows of a block of the printed Alman–Song kernel, measured per d, n and dtype.

Each block of query rows meets every key at once: its buffers are n × block, and its products are BLAS calls with
block columns. Small blocks pay the per-call cost of BLAS and of the loops' set-up; large ones leave the caches
(an n × block buffer of 2 MB at d = 16 on the machine this was written on: block 64 at n = 4,096, 16 at n = 16,384),
while at d = 128 the products dominate and the largest block wins. Which block is fastest depends on d, n, the
dtype and the machine, so it is measured: every candidate is timed (warm-up, repeats, median) at each n for every
d and dtype, on the same threads, in a process of its own. Blocks whose buffers would hold more than two n × d
float64 arrays each are not chosen (``largest_block``: the memory stays O(nd)); of the others, the smallest within 5%
of the fastest is (``chosen_block``). With ``--write`` the chosen block of each (dtype, d, n) goes into ``numeric/generated/blocks.json``, and `attngrad codegen` records it in the module's header
(``BLOCKS``), where ``generated.block_for`` reads it.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.attention import random_inputs
from attngrad.numeric.bench import ND_ARRAYS, cpu_name, machine_info, run_in_child, time_calls
from attngrad.numeric.inputs import as_attention_inputs, integer, parse_scale
from attngrad.numeric.resources import refuse_if_too_big
from attngrad.vocabulary import ALMAN_SONG_MODULE, ATTENTION_INPUTS, BLOCKS_FILE, DEFAULT_SCALE

CANDIDATES = (16, 32, 64, 128, 256)
LENGTHS = (4096, 16384)
#: timings within this factor of the fastest count as equally fast (the run-to-run spread on a 2-core VM)
NOISE = 1.05


def _blocks_child(ns: list[int], ds: list[int], dtypes: list[str], candidates: list[int], repeats: int,
                  warmup: int, threads: int, seed: int) -> list[dict[str, Any]]:
    from attngrad.numeric.generated import run

    rows = []
    for n in ns:
        for dt in dtypes:
            for d in ds:
                arrays = as_attention_inputs(*(random_inputs(n, d, seed=seed, dtype=dt)[k] for k in ATTENTION_INPUTS))
                s = parse_scale(DEFAULT_SCALE, d)
                for b in candidates:
                    first, times = time_calls(lambda b=b: run(ALMAN_SONG_MODULE, arrays, (s,), threads, block=b),
                                              warmup, repeats)
                    rows.append({"dtype": dt, "d": d, "n": n, "block": b, "first_call_s": first,
                                 "median_s": float(np.median(times)), "min_s": min(times), "max_s": max(times)})
    return rows


#: a block's n × block buffer holds at most this many n × d float64 arrays (the kernel's memory stays O(nd))
BUFFER_PER_ND = 2


def largest_block(d: int, dtype: str) -> int:
    """The most rows a block may have at head dimension d: each n × block buffer holds at most BUFFER_PER_ND times
    the bytes of an n × d float64 array, so the kernel's memory stays O(nd) (under 50 MB at n = 16,384, d = 32 on 2
    threads)."""
    return BUFFER_PER_ND * d * 8 // np.dtype(dtype).itemsize


def chosen_block(rows: list[dict[str, Any]]) -> int:
    """The block recorded for one (dtype, d, n): among the blocks ``largest_block`` allows, the smallest whose
    median is within ``NOISE`` of the fastest (a smaller block holds less memory, and a smaller difference is
    within run-to-run noise; the smallest candidate is allowed at any d); sets each row's ``vs_fastest`` (against
    the fastest allowed) and ``allowed``."""
    smallest = min(r["block"] for r in rows)  # allowed at any d
    for r in rows:
        r["allowed"] = r["block"] <= max(smallest, largest_block(r["d"], r["dtype"]))
    allowed = [r for r in rows if r["allowed"]]
    fastest = min(r["median_s"] for r in allowed)
    for r in rows:
        r["vs_fastest"] = r["median_s"] / fastest
    return min(r["block"] for r in allowed if r["vs_fastest"] <= NOISE)


def tune_blocks(ns: tuple[int, ...] = LENGTHS, ds: tuple[int, ...] = (16, 32, 64, 128),
                dtypes: tuple[str, ...] = ("float64", "float32"), candidates: tuple[int, ...] = CANDIDATES,
                repeats: int = 3, warmup: int = 1, threads: int | None = None, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time every candidate block for every d, n and dtype (see the module docstring); the result has the machine,
    every timing (``rows``) and the fastest block of each (dtype, d, n) (``blocks``: dtype → [[d, n, block], …])."""
    from attngrad.numeric.kernel_support import resolve_threads

    if not ns:
        raise InputError("--n must be a list of positive integers.")
    for n in ns:
        integer("--n", n, 2)
    integer("--repeats", repeats, 1)
    integer("--warmup", warmup, 1)
    for label, values in (("--d", ds), ("--blocks", candidates)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise InputError(f"{label} must be a list of positive integers.")
    bad = [dt for dt in dtypes if dt not in ("float64", "float32")]
    if bad or not dtypes:
        raise InputError(f"--dtype must be float64 or float32, got {bad[0] if bad else 'nothing'!r}.")
    threads = resolve_threads(threads)
    from attngrad.numeric.generated import row_buffer_bytes

    n, d = max(ns), max(ds)  # the inputs, n×d arrays and each thread's buffers at the largest candidate block
    need = 4 * n * d * 8 + ND_ARRAYS * n * d * 8 + row_buffer_bytes(ALMAN_SONG_MODULE, {"n": n, "d": d}, threads,
                                                                     block=max(candidates))
    refuse_if_too_big("bench blocks", need, f"n = {n:,}, d = {d} and blocks of {max(candidates)} rows")
    if progress:
        progress(f"timing {len(candidates)} blocks × {len(ds)} d × {len(dtypes)} dtypes at n = "
                 + ", ".join(f"{x:,}" for x in ns))
    rows = run_in_child("_blocks_child", [list(ns), list(ds), list(dtypes), list(candidates), repeats, warmup, threads, seed],
                        "attngrad.numeric.bench_blocks")
    best: dict[str, list[list[int]]] = {}
    for dt in dtypes:
        for d in sorted(set(ds)):
            for n in sorted(set(ns)):
                mine = [r for r in rows if r["dtype"] == dt and r["d"] == d and r["n"] == n]
                best.setdefault(dt, []).append([d, n, chosen_block(mine)])
    machine = machine_info(threads)
    machine.update(repeats=repeats, warmup=warmup)
    return {"machine": machine, "ns": sorted(set(ns)), "rows": rows, "blocks": best}


def write_blocks(result: dict[str, Any], folder: Path) -> Path:
    """Write the fastest blocks of ``result`` for the Alman–Song module into ``folder/blocks.json`` (atomically),
    with how they were measured; `attngrad codegen` then records them in the module's header."""
    path = Path(folder) / BLOCKS_FILE
    m = result["machine"]
    how = (f"`attngrad bench blocks` at n = {' and '.join(f'{n:,}' for n in result['ns'])} on {cpu_name()}, "
           f"{m['threads']} threads, "
           f"{datetime.date.today().isoformat()}")
    data = {"modules": {ALMAN_SONG_MODULE: {"measured": how, **result["blocks"]}}}
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"Cannot write the measured blocks to {path}: {exc.strerror or exc}.") from None
    return path
