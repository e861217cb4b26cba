"""`attngrad bench exact` on a tiny grid: the JSON carries what the issue asks, computed consistently."""

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.numeric.bench import bound_seconds


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.heavy
def test_bench_exact_tiny_grid_json():
    res = run("bench", "exact", "--n", "48,96", "--d", "4", "--dtype", "float64,float32", "--repeats", "2",
              "--methods", "generated,reference", "--threads", "2", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    m = out["machine"]
    assert m["threads"] == 2 and "numba" in m["versions"] and "numpy" in m["versions"]
    assert m["rounds"] == 2 and len(m["rates_per_round"]) == 2
    for dt in ("float64", "float32"):
        r = m["rates"][dt]
        assert r["gemm_flops"] > 1e8 and r["exp_per_s"] > 1e6
        # the bound is a lower one: each rate the best of the rounds' measurements
        assert r["gemm_flops"] == max(x[dt]["gemm_flops"] for x in m["rates_per_round"])
        assert r["exp_per_s"] == max(max(x[dt]["exp_rates"].values()) for x in m["rates_per_round"])
        # the bound uses the fastest exp measured (np.exp and the kernels' own always, torch.exp when installed)
        assert {"np.exp", "vexp"} <= set(r["exp_rates"]) and r["exp_per_s"] == max(r["exp_rates"].values())
        assert r["exp_rates"][r["exp"]] == r["exp_per_s"]
    rows = out["timings"]
    assert {(r["method"], r["n"], r["dtype"]) for r in rows} == {
        (meth, n, dt) for meth in ("generated", "reference") for n in (48, 96) for dt in ("float64", "float32")}
    for r in rows:
        assert r["skipped"] is None and r["repeats"] == 2 * 2 == len(r["times_s"]) and r["threads"] == 2
        assert r["median_s"] == np.median(r["times_s"]) and r["min_s"] == min(r["times_s"])
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"] == max(r["times_s"])
        assert r["bound_s"] == pytest.approx(bound_seconds(r["n"], r["d"], m["rates"][r["dtype"]]))
        assert r["ratio_to_bound"] == pytest.approx(r["median_s"] / r["bound_s"])
        assert r["verified_rel_err"] <= (1e-9 if r["dtype"] == "float64" else 2e-3)
        assert r["first_call_s"] > 0
    mem = {(x["method"], x["dtype"]): x for x in out["memory"]}
    assert set(mem) == {(meth, dt) for meth in ("generated", "reference") for dt in ("float64", "float32")}
    assert all("peak_mb" in x and x["n"] == 96 for x in mem.values())
    assert all(x["peak_mb"] < 50 for (meth, _), x in mem.items() if meth != "reference")


@pytest.mark.parametrize("args,msg", [
    (["--n", "0,64"], "--n must be a comma-separated list of positive integers"),
    (["--n", "abc"], "--n must be a comma-separated list of positive integers"),
    (["--d", "4.5"], "--d must be a comma-separated list of positive integers"),
    (["--n", "100000000"], "bench exact would need"),
    (["--n", "1000000", "--budget", "600"], "bench exact would take at least"),
    (["--repeats", "0"], "--repeats must be a positive integer, got 0."),
    (["--rounds", "0"], "rounds must be"),
    (["--methods", "numpy-magic"], "Unknown method 'numpy-magic'"),
    (["--dtype", "float16"], "--dtype must be float64 or float32"),
    (["--threads", "0"], "threads must be an integer from 1"),
])
def test_bench_bad_input_exits_2(args, msg):
    res = run("bench", "exact", "--d", "4", "--repeats", "1", "--no-memory", *args)
    assert res.exit_code == 2, res.output
    assert msg in res.output and "Traceback" not in res.output


def test_missing_peer_and_plot_are_one_sentence_or_work(tmp_path):
    has_torch = importlib.util.find_spec("torch") is not None
    res = run("bench", "exact", "--n", "32", "--d", "2", "--repeats", "1", "--no-memory", "--dtype", "float64",
              "--methods", "torch-sdpa")
    if has_torch:
        assert res.exit_code == 0, res.output
    else:
        assert res.exit_code == 2 and "pip install 'attngrad[peers]'" in res.output
    png = tmp_path / "b.png"
    res = run("bench", "exact", "--n", "32,64", "--d", "2", "--repeats", "1", "--no-memory", "--dtype", "float64",
              "--methods", "generated", "--plot", str(png))
    if importlib.util.find_spec("matplotlib") is not None:
        assert res.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        res = run("bench", "exact", "--n", "32", "--d", "2", "--repeats", "1", "--no-memory", "--dtype", "float64",
                  "--methods", "generated", "--plot", str(tmp_path / "missing" / "dir" / "b.png"))
        assert res.exit_code == 2 and "Cannot write the plot" in res.output
    else:
        assert res.exit_code == 2 and "pip install 'attngrad[plot]'" in res.output


def _fake_simulate_records(torch: bool) -> dict:
    """What ``run_simulate`` returns, with made-up numbers (the timing itself is exercised by `attngrad bench simulate`)."""
    stats = lambda m: {"median": m, "min": m / 2, "max": 2 * m}  # noqa: E731
    runs = [{"first_call_s": 1.5, "times_s": [0.2], "instance_steps": 400, "runs": 8, "steps": 50, "every_step": every,
             "jacobians": jac, "seconds": stats(0.2), "per_instance_step_s": 5e-4}
            for every, jac in ((False, True), (True, True), (True, False))]
    per_step = [{"kernel": k, "train": "W_V", "ours_1_thread_s": stats(2e-5), "ours_first_call_s": 0.1,
                 "torch": [{"threads": t, "step_s": stats(1e-4 * t), "verified_rel_err": 1e-12 * t} for t in (4, 1)]
                 if torch else []} for k in ("softmax", "gaussian")]
    if torch:
        for r in per_step:
            r["torch_verified_rel_err"] = r["torch"][-1]["verified_rel_err"]
    out = {"machine": {"cpu": "test cpu", "threads": 4, "versions": {"numba": "0"}}, "experiment": "paper",
           "threads": 4, "repeats": 1, "steps_per_call": 5, "experiment_runs": runs, "per_step": per_step,
           "torch_threads": [4, 1] if torch else [], "notes": [] if torch else ["PyTorch is not installed."]}
    if torch:
        out["ratios"] = {"torch_step_over_ours_instance_step": 2.0, "torch_step_over_ours_gd_instance_step": 3.0,
                         "torch_1_thread_over_ours_1_thread": 5.0, "verified": True}
    return out


@pytest.mark.parametrize("torch", [True, False], ids=["torch", "no-torch"])
def test_bench_simulate_renders_records_and_keeps_the_json_fields(monkeypatch, torch):
    """The thread count of each PyTorch timing is a field of its record: the table's columns come from it, and the
    JSON's fields torch_<threads>_threads_s are built by bench_sim.as_json (the CLI parses no key)."""
    from attngrad.numeric import bench_sim

    monkeypatch.setattr(bench_sim, "run_simulate", lambda *a, **k: _fake_simulate_records(torch))
    res = run("bench", "simulate", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert "torch_threads" not in out and set(out) >= {"machine", "experiment", "threads", "repeats", "steps_per_call",
                                                       "experiment_runs", "per_step", "notes"}
    for r in out["per_step"]:
        assert "torch" not in r
        if torch:
            assert r["torch_4_threads_s"]["median"] == pytest.approx(4e-4)
            assert r["torch_1_threads_s"]["median"] == pytest.approx(1e-4)
            assert r["torch_verified_rel_err"] == pytest.approx(1e-12)
            assert list(r)[-1] == "torch_verified_rel_err"
        else:
            assert not [k for k in r if k.startswith("torch_")]
    res = run("bench", "simulate")
    assert res.exit_code == 0, res.output
    head = next(line for line in res.output.splitlines() if line.startswith("kernel"))
    if torch:
        assert "torch µs/step (4 threads)" in head and "torch µs/step (1 thread)" in head
        assert head.index("torch µs/step (4 threads)") < head.index("torch µs/step (1 thread)")
        softmax = next(line for line in res.output.splitlines() if line.startswith("softmax"))
        assert softmax.split()[2:5] == ["20", "400", "100"]  # ours, torch on 4 threads, on 1 thread (µs)
        assert "1.0e-12" in softmax and "3.0× for GD alone" in res.output
    else:
        assert "torch" not in head and "note: PyTorch is not installed." in res.output
    assert "paper, stop rules on" in res.output and "GD alone (no λ checks)" in res.output


def test_bench_sim_as_json_names_each_torch_timing_by_its_threads():
    from attngrad.numeric.bench_sim import as_json, torch_key

    records = _fake_simulate_records(True)
    out = as_json(records)
    assert records["per_step"][0]["torch"]  # the records are left as they were
    for rec, row in zip(records["per_step"], out["per_step"]):
        assert {torch_key(x["threads"]): x["step_s"] for x in rec["torch"]} == {
            k: v for k, v in row.items() if k.startswith("torch_") and k.endswith("_threads_s")}
    assert torch_key(8) == "torch_8_threads_s"


def test_ours_is_compared_with_the_fastest_peer_at_the_same_point_and_never_with_the_reference():
    from attngrad.numeric.bench import Timing, compare_with_peers

    def timing(method, n, median):
        return Timing(method, n, 16, "float64", 2, median_s=median)

    rows = [timing("generated", 8, 2.0), timing("reference", 8, 1.0), timing("torch-sdpa", 8, 5.0),
            timing("jax-jit-grad", 8, 3.0), timing("generated", 16, 4.0), timing("torch-sdpa", 32, 1.0),
            Timing("jax-jit-grad", 16, 16, "float64", 2, skipped="too large")]
    compare_with_peers(rows)
    assert (rows[0].fastest_peer, rows[0].vs_fastest_peer) == ("jax-jit-grad", 3.0 / 2.0)
    assert (rows[4].fastest_peer, rows[4].vs_fastest_peer) == (None, None)  # no peer ran at n = 16
    assert all(r.vs_fastest_peer is None for r in rows if r.method != "generated")
