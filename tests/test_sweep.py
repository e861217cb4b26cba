"""Sweeps (numeric/sweep*.py, numeric/store.py, `attngrad sweep`): every stored outcome against the same run done
directly by ``simulate``; resuming after an interruption and after ``kill -9`` loses and repeats nothing; bad specs
and stores are one sentence."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from attngrad.cli.main import main
from attngrad.errors import InputError
from attngrad.numeric import sweep as sw
from attngrad.numeric.simulate import simulate
from attngrad.numeric.store import SCHEMA_VERSION, open_store, run_key
from attngrad.numeric.sweep_report import regimes
from attngrad.numeric.sweep_spec import load_spec, resolve, spec_from_dict

TINY = {"N": 4, "n": 4, "D": 16, "d": 4, "dv": 4, "dy": 1, "steps": 60, "lambda_every": 20, "window": 20}


def tiny_spec(**extra):
    data = {"kernels": ["softmax", "gaussian"], "modes": ["W_V"], "seeds": [0, 1], "fixed": dict(TINY),
            "grid": {"scale.W_V": [1.0, 3.0]}}
    data.update(extra)
    return spec_from_dict(data)


def test_every_stored_run_matches_the_same_run_done_directly(tmp_path):
    spec = tiny_spec(curves=True)
    with open_store(tmp_path / "r.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        summary = sw.run_sweep(spec, store, workers=2)
        rows = list(store.rows(with_curves=True))
    assert summary.ran == spec.n_runs == len(rows) == 8 and summary.failed == 0
    for task in spec.tasks():
        row = next(r for r in rows if r["kernel"] == task.kernel and r["seed"] == task.seed
                   and r["scale.W_V"] == task.params["scale.W_V"])
        settings = spec.settings(task.coords)
        start = settings.instance(task.seed)
        run = simulate([task.kernel], [task.train], [task.seed], settings, workers=1)[0]
        assert row["status"] == run.outcome(settings.target) and row["stop"] == run.status
        assert row["steps_run"] == run.last + 1 and row["steps"] == settings.steps
        np.testing.assert_array_equal(row["curve"], run.losses[: run.last + 1])
        assert row["f0"] == run.losses[0] and row["final_loss"] == run.losses[run.last]
        assert row["mu0"] == run.checkpoints[0]["lambda_min"] / settings.sizes.N
        moved = run.instance.weights["W_V"] - start.weights["W_V"]
        assert math.isclose(row["distance"], float(np.linalg.norm(moved)), rel_tol=1e-12)
        assert row["grid.scale.W_V"] == task.coords["scale.W_V"]


def test_resume_skips_what_is_done_and_runs_the_rest_once(tmp_path):
    spec = tiny_spec()
    path = tmp_path / "r.sqlite"

    def stop_after_three(done, total, failed):
        if done == 3:
            raise KeyboardInterrupt

    with open_store(path) as store:
        sw.prepare(spec, store, resume=False)
        with pytest.raises(KeyboardInterrupt):
            sw.run_sweep(spec, store, workers=1, progress=stop_after_three)
        before = {(r["kernel"], r["seed"], r["scale.W_V"]): r["finished_at"] for r in store.rows()}
    assert len(before) == 3
    with open_store(path) as store:
        with pytest.raises(InputError, match="pass --resume"):
            sw.prepare(spec, store, resume=False)
        store.set_meta("version", "0.0.1")
        with pytest.raises(InputError, match="written by attngrad 0.0.1"):
            sw.prepare(None, store, resume=True)
        store.set_meta("version", sw.__version__)
        with open_store(tmp_path / "fresh.sqlite") as fresh:  # started, nothing finished yet: resumes its own spec
            fresh.set_meta("spec", spec.to_dict())
            assert sw.prepare(None, fresh, resume=True).to_dict() == spec.to_dict()
        again = sw.prepare(None, store, resume=True)
        assert again.to_dict() == spec.to_dict()
        summary = sw.run_sweep(again, store, workers=2)
        after = {(r["kernel"], r["seed"], r["scale.W_V"]): r["finished_at"] for r in store.rows()}
    assert summary.skipped == 3 and summary.ran == 5
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())
    keys = [run_key(t.params) for t in spec.tasks()]
    with sqlite3.connect(path) as db:
        assert sorted(k for (k,) in db.execute("SELECT key FROM runs")) == sorted(keys)


@pytest.mark.heavy
def test_kill_9_loses_no_finished_run(tmp_path):
    path = tmp_path / "r.sqlite"
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text('kernels = ["softmax", "gaussian"]\nmodes = ["W_V", "W_Q"]\nseeds = 6\n[fixed]\n'
                         + "".join(f"{k} = {v}\n" for k, v in TINY.items()))
    proc = subprocess.Popen([sys.executable, "-m", "attngrad.cli", "sweep", "run", str(spec_file), "--store",
                             str(path), "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    count = 0
    while time.monotonic() < deadline and count < 4:
        time.sleep(0.2)
        if path.exists():
            try:
                with sqlite3.connect(path, timeout=5) as db:
                    count = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert count >= 4, "the sweep recorded no runs before the deadline"
    with open_store(path) as store:
        kept = {(r["kernel"], r["train"], r["seed"]): r["finished_at"] for r in store.rows()}
        assert len(kept) >= count
        spec = sw.prepare(None, store, resume=True)
        summary = sw.run_sweep(spec, store, workers=1)
        rows = {(r["kernel"], r["train"], r["seed"]): r["finished_at"] for r in store.rows()}
    assert summary.skipped == len(kept) and summary.ran == spec.n_runs - len(kept) == 24 - len(kept)
    assert len(rows) == 24 and all(rows[k] == v for k, v in kept.items())


def test_a_run_that_raises_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path):
    # W_O = 0: the outputs do not move with W_V, λ_max(J₀J₀ᵀ) = 0, so the automatic step size does not exist
    spec = tiny_spec(grid={"scale.W_O": [0.0, 1.0]}, kernels=["softmax"])
    with open_store(tmp_path / "r.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        summary = sw.run_sweep(spec, store, workers=1)
        rows = list(store.rows())
    failed = [r for r in rows if r["status"] == "failed"]
    assert summary.failed == len(failed) == 2 and all(r["scale.W_O"] == 0.0 for r in failed)
    assert all("λ_max(J₀J₀ᵀ) > 0" in r["error"] for r in failed)
    assert all(r["status"] != "failed" and r["final_loss"] is not None for r in rows if r["scale.W_O"] == 1.0)


def test_regimes_count_the_stored_outcomes(tmp_path):
    spec = tiny_spec(seeds=3, modes=["W_V", "W_Q"])
    with open_store(tmp_path / "r.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        sw.run_sweep(spec, store, workers=2)
        rows = list(store.rows())
    entries = regimes(rows)
    assert len(entries) == 2 * 2 * 2
    for e in entries:
        mine = [r for r in rows if r["kernel"] == e["kernel"] and r["train"] == e["train"]
                and r["grid.scale.W_V"] == e["scale.W_V"]]
        assert e["runs"] == len(mine) == 3
        for outcome in ("converged", "stalled", "diverged", "unfinished", "failed"):
            assert e[outcome] == sum(r["status"] == outcome for r in mine) / 3
    assert sum(e["converged"] + e["stalled"] + e["diverged"] + e["unfinished"] + e["failed"] for e in entries) == 8


def test_export_csv_json_and_parquet_hold_every_run(tmp_path):
    spec = tiny_spec(kernels=["softmax"], seeds=[0])
    with open_store(tmp_path / "r.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        sw.run_sweep(spec, store, workers=1)
        rows = list(store.rows())
    for suffix in ("json", "csv", "parquet"):
        res = CliRunner().invoke(main, ["sweep", "export", "--store", str(tmp_path / "r.sqlite"), "--out",
                                        str(tmp_path / f"r.{suffix}")])
        assert res.exit_code == 0 and res.output.strip().endswith(f"wrote 2 runs to {tmp_path / f'r.{suffix}'}")
    data = json.loads((tmp_path / "r.json").read_text())
    assert [d["final_loss"] for d in data] == [r["final_loss"] for r in rows]
    import csv

    with (tmp_path / "r.csv").open() as fh:
        got = list(csv.DictReader(fh))
    assert [float(g["final_loss"]) for g in got] == [r["final_loss"] for r in rows]
    pq = pytest.importorskip("pyarrow.parquet")  # in the test extra, so CI runs it
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [t["final_loss"] for t in table] == [r["final_loss"] for r in rows]
    assert [t["seed"] for t in table] == [r["seed"] for r in rows] and set(table[0]) == set(rows[0])


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 40), n=st.integers(1, 40), num=st.integers(1, 400), den=st.integers(1, 100))
def test_d_relative_to_nn_is_the_ceiling(N, n, num, den):
    ratio = num / den
    got = resolve({"N": N, "n": n, "D/Nn": ratio})["D"]
    exact = Fraction(ratio) * N * n  # the float's exact value times N·n
    assert got >= 1 and (got - 1 < exact <= got or got == 1 and exact <= 1)


def test_a_spec_file_and_its_stored_copy_give_the_same_runs(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('name = "x"\nkernels = ["gaussian"]\nmodes = ["W_Q", "W_Q,W_K,W_V"]\nseeds = [2, 5]\n'
                 '[fixed]\nsteps = 10\n[grid]\n"D/Nn" = [0.5, 2]\n"scale.W_V" = [1, 4]\n')
    spec = load_spec(f)
    assert spec.n_runs == 2 * 2 * 2 * 2 == len(list(spec.tasks()))
    again = spec_from_dict(spec.to_dict())
    assert [t.params for t in again.tasks()] == [t.params for t in spec.tasks()]
    assert {t.params["D"] for t in spec.tasks()} == {64, 256}  # N·n = 16·8 = 128 by default


@pytest.mark.parametrize("data, message", [
    ({"kernel": ["softmax"]}, "unknown field 'kernel'"),
    ({"grid": {"scale.W_X": [1]}}, "Unknown parameter 'scale.W_X'"),
    ({"grid": {"n": []}}, "non-empty list"),
    ({"grid": {"n": [2, 2]}}, "repeats a value"),
    ({"fixed": {"D": 8}, "grid": {"D/Nn": [1]}}, "not both"),
    ({"fixed": {"n": 3}, "grid": {"n": [2]}}, "both fixed and swept"),
    ({"seeds": -1}, "positive count"),
    ({"seeds": [1, 1]}, "repeat a seed"),
    ({"modes": ["W_Z"]}, "W_Z"),
    ({"grid": {"n": [4, 0]}}, "at n = 0"),
    ({"fixed": {"steps": 1.5}}, "steps must be a positive integer"),
    ({"grid": {"targets": ["random", "inside"]}}, "targets must be one of"),
])
def test_bad_specs_are_one_sentence(data, message):
    with pytest.raises(InputError, match=message) as info:
        spec_from_dict(data)
    assert "\n" not in str(info.value)


def test_a_store_of_another_schema_or_not_sqlite_is_one_sentence(tmp_path):
    other = tmp_path / "old.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE runs (key TEXT)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(InputError, match=f"schema version {SCHEMA_VERSION + 1}"):
        open_store(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database, just bytes" * 100)
    with pytest.raises(InputError, match="not an attngrad results store"):
        open_store(junk)


@pytest.mark.parametrize("args, message", [
    (["sweep", "run", "--store", "{tmp}/r.sqlite", "--grid", "bogus=1,2"], "Unknown parameter 'bogus'"),
    (["sweep", "run", "{tmp}/missing.toml", "--store", "{tmp}/r.sqlite"], "Cannot read the sweep spec"),
    (["sweep", "run", "{tmp}/s.toml", "--store", "{tmp}/r.sqlite", "--seeds", "0-3"], "not both"),
    (["sweep", "run", "--store", "{tmp}/r.sqlite", "--retry-failed"], "pass --resume too"),
    (["sweep", "run", "--store", "{tmp}/nofolder/r.sqlite", "--set", "steps=5"], "does not exist"),
    (["sweep", "run", "--store", "{tmp}/r.sqlite", "--set", "steps=5", "--scheduler", "tcp://127.0.0.1:9"],
     "Dask"),
    (["sweep", "report", "--store", "{tmp}/none.sqlite"], "no store"),
    (["sweep", "export", "--store", "{tmp}/r.sqlite", "--out", "{tmp}/r.xlsx"], "csv, json or parquet"),
])
def test_sweep_cli_bad_input_exits_2(tmp_path, args, message):
    (tmp_path / "s.toml").write_text("seeds = 1\n")
    res = CliRunner().invoke(main, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


@pytest.mark.heavy
def test_a_dask_cluster_runs_the_same_sweep_and_streams_it_into_the_store(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = tiny_spec(grid={"scale.W_O": [0.0, 1.0]})  # W_O = 0: those runs raise and are recorded as failed
    with open_store(tmp_path / "local.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        sw.run_sweep(spec, store, workers=1)
        local = {(r["kernel"], r["seed"], r["scale.W_O"]): r for r in store.rows()}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with open_store(tmp_path / "dask.sqlite") as store:
            sw.prepare(spec, store, resume=False)
            summary = sw.run_sweep(spec, store, scheduler=cluster.scheduler_address)
            rows = list(store.rows())
    assert summary.workers == 2 and summary.ran == len(rows) == spec.n_runs == 8 and summary.failed == 4
    assert len({r["worker"] for r in rows}) == 2  # both workers ran some
    for r in rows:
        mine = local[(r["kernel"], r["seed"], r["scale.W_O"])]
        assert (r["status"], r["stop"], r["steps_run"], r["final_loss"], r["error"]) == \
            (mine["status"], mine["stop"], mine["steps_run"], mine["final_loss"], mine["error"])


def test_wv_runs_stay_within_the_certificate_radius(tmp_path):
    # W_V alone: f is quadratic with μ and L exact everywhere (pl/W_V) and η = 1/L, so the theorem's hypotheses hold
    # on the whole space: every path must be at most R₀ = 2√(2Lf₀)/μ long, and the certificate consistent.
    spec = tiny_spec(seeds=3, grid={"scale.W_V": [0.5, 2.0]}, fixed={**TINY, "steps": 300})
    with open_store(tmp_path / "r.sqlite") as store:
        sw.prepare(spec, store, resume=False)
        sw.run_sweep(spec, store, workers=2)
        rows = list(store.rows())
    assert len(rows) == 12
    for r in rows:
        assert r["radius"] == pytest.approx(2 * math.sqrt(2 * r["lambda_max0"] * r["f0"]) / r["mu0"], rel=1e-12)
        assert r["distance"] <= r["path_length"] * (1 + 1e-12) and r["path_length"] <= r["radius"]
        assert r["mu_path_min"] == pytest.approx(r["mu0"], rel=1e-6) and r["certificate"] == "consistent"


@settings(max_examples=60, deadline=None)
@given(eta_mu=st.floats(1e-3, 0.999), eta_L=st.floats(1e-3, 1.0), f0=st.floats(1e-6, 1e3), L=st.floats(1e-3, 1e3))
def test_the_printed_path_bound_is_the_series_and_below_the_radius(eta_mu, eta_L, f0, L):
    import mpmath

    from attngrad.numeric.generated.pl_certificate import path_bound, radius

    eta = eta_L / L
    mu = eta_mu / eta
    mpmath.mp.dps = 40
    q = mpmath.sqrt(1 - mpmath.mpf(eta) * mpmath.mpf(mu))
    series = mpmath.mpf(eta) * mpmath.sqrt(2 * mpmath.mpf(L) * f0) / (1 - q)  # (ημ ≤ 0.999: well conditioned)
    assert path_bound(L=L, eta=eta, f_0=f0, mu=mu) == pytest.approx(float(series), rel=1e-9)
    first = mpmath.mpf(eta) * mpmath.sqrt(2 * mpmath.mpf(L) * f0) * sum(q**t for t in range(200))
    assert float(first) <= path_bound(L=L, eta=eta, f_0=f0, mu=mu) * (1 + 1e-12)
    assert path_bound(L=L, eta=eta, f_0=f0, mu=mu) <= radius(L=L, f_0=f0, mu=mu) * (1 + 1e-12)


def test_the_certificate_derivation_is_verified_and_catches_a_wrong_radius(monkeypatch):
    import sympy as sp

    from attngrad.derive.papers import pl_certificate as pc

    b = pc.pl_ball()
    assert b.verified and sum(s.verified is True for s in b.steps) == 6
    monkeypatch.setattr(pc, "RADIUS", sp.sqrt(2 * pc.L * pc.f0) / pc.mu)  # half the radius
    wrong = pc.pl_ball.__wrapped__()
    assert not wrong.verified and [s.verified for s in wrong.steps].count(False) == 1


def test_the_named_sweeps_load_and_list_their_runs():
    from attngrad.numeric.sweep_spec import named_sweeps

    names = named_sweeps()
    assert {"wq-map", "wq-width"} <= set(names)
    width = load_spec("wq-width")
    assert {t.params["D"] for t in width.tasks()} == {32, 64, 128, 256}  # D/Nn × N·n = 128
    assert width.n_runs == 4 * 2 * 2 * 1 * 8 == len(list(width.tasks()))
    assert load_spec("wq-map").modes == (("W_Q",), ("W_V",), ("W_Q", "W_K", "W_V"))
    assert load_spec("scale-10k").n_runs == 5 * 5 * 2 * 2 * 100 == 10_000


class _KillsItsWorker(dict):
    """Parameters whose unpickling ends the process that receives them: a worker that dies mid-run."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_run_that_kills_its_worker_is_failed_and_its_neighbours_finish(tmp_path):
    spec = tiny_spec(kernels=["softmax"], seeds=[0, 1, 2], grid={})
    good = list(spec.tasks())
    bad = sw.Task(0, "softmax", ("W_V",), 99, _KillsItsWorker({**good[0].params, "seed": 99}), {})
    results = []
    sw._run_local([good[0], bad, good[1], good[2]], 1, results.append)
    by_seed = {r.outcome["seed"]: r.outcome for r in results}
    assert sorted(by_seed) == [0, 1, 2, 99] and len(results) == 4
    assert by_seed[99]["status"] == "failed" and "died 2 times" in by_seed[99]["error"]
    for t in good:  # the runs that shared the dead worker's pool ran again and finished
        direct = simulate([t.kernel], [t.train], [t.seed], spec.settings(t.coords), workers=1)[0]
        assert by_seed[t.seed]["status"] != "failed" and by_seed[t.seed]["final_loss"] == direct.losses[direct.last]


def test_a_sweep_over_its_time_budget_is_refused_and_keeps_its_timed_sample(tmp_path):
    """A new sweep times 4 runs per worker first; their mean time × the remaining runs / workers is the prediction
    the refusal states, the sample stays in the store, and --resume finishes the rest without running it twice."""
    from attngrad.numeric.bench import duration

    store_path = tmp_path / "r.sqlite"
    args = ["sweep", "run", "--store", str(store_path), "--workers", "1", "--kernel", "softmax", "--kernel",
            "gaussian", "--train", "W_V", "--seeds", "0-5", "--grid", "scale.W_V=1,3",
            *[x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]]
    res = CliRunner().invoke(main, [*args, "--budget", "0.001"])
    assert res.exit_code == 2 and "over the budget of 0 s" in res.output and "Traceback" not in res.output
    with open_store(store_path) as store:
        rows = list(store.rows())
    assert len(rows) == 4  # the sample: 4 runs for 1 worker
    later = sorted(rows, key=lambda r: r["finished_at"])[1:]  # the worker's first run loaded the kernels
    assert f"20 remaining runs are predicted to take {duration(np.mean([r['seconds'] for r in later]) * 20)} on 1 " \
        "worker (the mean of 3 timed runs" in " ".join(res.output.split())
    res = CliRunner().invoke(main, ["sweep", "run", "--store", str(store_path), "--resume", "--workers", "1",
                                    "--budget", "1e6"])
    assert res.exit_code == 0, res.output
    with open_store(store_path) as store:
        again = list(store.rows())
    assert len(again) == 24 == len({(r["kernel"], r["seed"], r["point"]) for r in again})
    sample = {(r["kernel"], r["seed"], r["point"]): r["finished_at"] for r in rows}
    assert all(r["finished_at"] == sample[k] for r in again if (k := (r["kernel"], r["seed"], r["point"])) in sample)


def test_bench_sweep_times_both_backends_and_its_speedups_are_the_ratios_of_its_times(tmp_path):
    """`attngrad bench sweep` on a 2-run sweep: every timed sweep (a LocalCluster and local processes, 1 and 2
    workers) stores the same outcomes as ``simulate`` run directly, and each speed-up is median(1)/median(2)."""
    f = tmp_path / "s.toml"
    f.write_text('name = "t"\nkernels = ["softmax"]\nmodes = ["W_V"]\nseeds = 2\n[fixed]\n'
                 + "".join(f"{k} = {v}\n" for k, v in TINY.items()))
    res = CliRunner().invoke(main, ["bench", "sweep", str(f), "--repeats", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["outcomes_agree"] is True and out["runs"] == 2
    times = {(r["backend"], r["workers"]): r["times_s"] for r in out["rows"]}
    assert set(times) == {("dask", 1), ("dask", 2), ("local", 1), ("local", 2)}
    for backend in ("dask", "local"):
        want = np.median(times[(backend, 1)]) / np.median(times[(backend, 2)])
        assert math.isclose(out["speedups"][backend]["2"], want, rel_tol=1e-12)
    spec = load_spec(f)
    settings = spec.settings({})
    runs = simulate(["softmax"], [("W_V",)], [0, 1], settings, workers=1)
    from attngrad.numeric import bench_sweep

    _, outcomes = bench_sweep._timed(spec, tmp_path, "again", workers=1)
    assert sorted(v[2] for v in outcomes.values()) == sorted(r.losses[r.last] for r in runs)


@pytest.mark.parametrize("args, fragment", [
    (["--backend", "gpu"], "Unknown backend 'gpu'"),
    (["--workers", "0"], "positive integers"),
    (["--repeats", "0"], "at least 1"),
])
def test_bench_sweep_bad_input_is_one_sentence(args, fragment):
    res = CliRunner().invoke(main, ["bench", "sweep", *args])
    assert res.exit_code == 2 and fragment in res.output and "Traceback" not in res.output
