"""Blocks of query rows: any block gives the reference's gradient, `bench blocks` picks the fastest it measured, and
the measured blocks are recorded in a module's header and used by `generated.run`."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codegen import EXAMPLE, _import

from attngrad.cli.main import main
from attngrad.numeric import random_inputs
from attngrad.numeric.generated import block_for, load, run
from attngrad.numeric.inputs import as_attention_inputs
from attngrad.numeric.reference import reference_loss_and_grad
from attngrad.vocabulary import ALMAN_SONG_MODULE, ATTENTION_INPUTS


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 5), block=st.integers(1, 50), threads=st.integers(1, 2),
       dtype=st.sampled_from(["float64", "float32"]))
def test_every_block_gives_the_reference_gradient(n, d, block, threads, dtype):
    """Blocks shorter than a thread's rows, longer than n, or not dividing them: the same outputs (to rounding)."""
    arrays = as_attention_inputs(*(random_inputs(n, d, seed=n + d)[k] for k in ATTENTION_INPUTS), dtype=dtype)
    want = reference_loss_and_grad(*(a.astype(np.float64) for a in arrays), 1.0 / d)
    got = run(ALMAN_SONG_MODULE, arrays, (1.0 / d,), threads, block=block)
    rtol = 1e-11 if dtype == "float64" else 2e-4
    for g, w in zip(got, want):
        w = np.asarray(w, np.float64).reshape(g.shape)
        assert np.abs(g - w).max() <= rtol * max(1.0, np.abs(w).max())


def test_block_for_reads_the_measured_table():
    """The smallest measured d ≥ d (else the largest), then the n nearest on a log scale (a tie: the smaller n)."""
    mod = SimpleNamespace(BLOCK=32, BLOCKS={"float64": ((16, 4096, 64), (16, 16384, 16), (64, 4096, 128)),
                                            "float32": ((32, 1000, 256),)})
    assert [block_for(mod, "float64", d, 4096) for d in (1, 16, 17, 64, 65, 500)] == [64, 64, 128, 128, 128, 128]
    assert [block_for(mod, "float64", 16, n) for n in (1, 4096, 8191, 8192, 8193, 16384, 10**7)] == \
        [64, 64, 64, 64, 16, 16, 16]
    assert block_for(mod, "float64", 50, 16384) == 128  # only n = 4,096 was measured at d = 64
    assert block_for(mod, "float32", 8, 10) == 256 and block_for(mod, "float32", 99, 10**6) == 256
    assert block_for(SimpleNamespace(BLOCK=32, BLOCKS={}), "float64", 8, 100) == 32
    assert block_for(SimpleNamespace(BLOCK=24), "float32", 8, 100) == 24  # a module printed before BLOCKS existed


def test_bench_blocks_picks_the_smallest_block_within_noise_of_the_fastest():
    res = CliRunner().invoke(main, ["bench", "blocks", "--n", "40,96", "--d", "2,16", "--dtype", "float64,float32",
                                    "--blocks", "8,32", "--repeats", "2", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert sorted((r["dtype"], r["d"], r["n"], r["block"]) for r in out["rows"]) == sorted(
        (dt, d, n, b) for dt in ("float64", "float32") for d in (2, 16) for n in (40, 96) for b in (8, 32))
    for dt, table in out["blocks"].items():
        assert [(d, n) for d, n, _ in table] == [(2, 40), (2, 96), (16, 40), (16, 96)]
        size = {"float64": 8, "float32": 4}[dt]
        for d, n, block in table:
            mine = [r for r in out["rows"] if r["dtype"] == dt and r["d"] == d and r["n"] == n]
            # a block's buffer holds at most two n × d float64 arrays (the smallest candidate is always allowed)
            allowed = [r for r in mine if r["block"] == 8 or r["block"] * size <= 2 * 8 * d]
            assert [r["allowed"] for r in mine] == [r in allowed for r in mine]
            assert [r["block"] for r in allowed] == ([8] if d == 2 else [8, 32])  # 32 rows: 2·16·8 bytes in float64
            fastest = min(allowed, key=lambda r: r["median_s"])
            near = [r["block"] for r in allowed if r["median_s"] <= 1.05 * fastest["median_s"]]
            assert block == min(near)  # the smallest allowed block within 5% of the fastest allowed
            for r in mine:
                assert r["vs_fastest"] == pytest.approx(r["median_s"] / fastest["median_s"])
                assert r["vs_fastest"] >= 1 or not r["allowed"]
                assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
    assert out["written"] == []


@pytest.mark.parametrize("args,fragment", [
    (["--blocks", "0"], "--blocks must be a comma-separated list of positive integers"),
    (["--dtype", "float16"], "--dtype must be float64 or float32"),
    (["--n", "1"], "--n"),
    (["--n", "100000000000"], "bench blocks would need"),
])
def test_bench_blocks_bad_input_is_one_sentence(args, fragment):
    res = CliRunner().invoke(main, ["bench", "blocks", *args])
    assert res.exit_code == 2 and fragment in res.output and "Traceback" not in res.output


def test_measured_blocks_are_recorded_in_the_header_and_codegen_check_sees_a_change(tmp_path):
    """A blocks.json beside a --file's modules goes into their headers; changing it makes them stale."""
    out = tmp_path / "kernels"
    table = {"measured": "a test", "float64": [[8, 512, 16], [64, 512, 128]], "float32": [[64, 512, 256]]}
    out.mkdir()
    (out / "blocks.json").write_text(json.dumps({"modules": {"causal": table}}))
    res = CliRunner().invoke(main, ["codegen", "--file", str(EXAMPLE), "--out", str(out)])
    assert res.exit_code == 0, res.output
    causal, sigmoid = _import(out / "causal.py"), _import(out / "sigmoid.py")
    assert causal.BLOCKS == {"float32": ((64, 512, 256),), "float64": ((8, 512, 16), (64, 512, 128))}
    assert "blocks measured by a test" in (out / "causal.py").read_text()
    assert sigmoid.BLOCKS == {} and block_for(sigmoid, "float64", 4, 100) == sigmoid.BLOCK
    check = ["codegen", "--check", "--file", str(EXAMPLE), "--out", str(out)]
    assert CliRunner().invoke(main, check).exit_code == 0
    table["float32"] = [[64, 512, 128]]
    (out / "blocks.json").write_text(json.dumps({"modules": {"causal": table}}))
    res = CliRunner().invoke(main, check)
    assert res.exit_code == 1 and "causal.py" in res.output and "sigmoid.py" not in res.output
    (out / "blocks.json").write_text("{not json")
    res = CliRunner().invoke(main, check)
    assert res.exit_code == 2 and "Cannot read the measured blocks" in res.output


def test_the_built_in_module_uses_its_recorded_blocks():
    mod = load(ALMAN_SONG_MODULE)
    assert mod.BLOCKS, "the built-in Alman–Song module has measured blocks (`attngrad bench blocks --write`)"
    for dt, rows in mod.BLOCKS.items():
        assert list(rows) == sorted(rows) and all(b >= 1 for *_, b in rows)
        for d, n, b in rows:
            assert block_for(mod, dt, d, n) == b
