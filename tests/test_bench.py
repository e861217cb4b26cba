"""`attngrad bench exact` on a tiny grid: the JSON carries what the issue asks, computed consistently."""

import importlib.util
import json

import pytest
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.numeric.bench import bound_seconds


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_bench_exact_tiny_grid_json():
    res = run("bench", "exact", "--n", "48,96", "--d", "4", "--dtype", "float64,float32", "--repeats", "2",
              "--methods", "generated,fused,reference", "--threads", "2", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    m = out["machine"]
    assert m["threads"] == 2 and "numba" in m["versions"] and "numpy" in m["versions"]
    for dt in ("float64", "float32"):
        assert m["rates"][dt]["gemm_flops"] > 1e8 and m["rates"][dt]["exp_per_s"] > 1e6
    rows = out["timings"]
    assert {(r["method"], r["n"], r["dtype"]) for r in rows} == {
        (meth, n, dt) for meth in ("generated", "fused", "reference") for n in (48, 96) for dt in ("float64", "float32")}
    for r in rows:
        assert r["skipped"] is None and r["repeats"] == 2 and r["threads"] == 2
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["bound_s"] == pytest.approx(bound_seconds(r["n"], r["d"], m["rates"][r["dtype"]]))
        assert r["ratio_to_bound"] == pytest.approx(r["median_s"] / r["bound_s"])
        assert r["verified_rel_err"] <= (1e-9 if r["dtype"] == "float64" else 2e-3)
        assert r["first_call_s"] > 0
    mem = {(x["method"], x["dtype"]): x for x in out["memory"]}
    assert set(mem) == {(meth, dt) for meth in ("generated", "fused", "reference") for dt in ("float64", "float32")}
    assert all("peak_mb" in x and x["n"] == 96 for x in mem.values())
    assert all(x["peak_mb"] < 50 for (meth, _), x in mem.items() if meth != "reference")


@pytest.mark.parametrize("args,msg", [
    (["--n", "0,64"], "--n must be a comma-separated list of positive integers"),
    (["--n", "abc"], "--n must be a comma-separated list of positive integers"),
    (["--d", "4.5"], "--d must be a comma-separated list of positive integers"),
    (["--n", "100000000"], "more than this machine has free"),
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
