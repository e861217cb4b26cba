"""Bad input on the one-layer path (simulate, landscape, bounds, numeric.one_layer) is one sentence or a correct
result: no step size without curvature, scores that overflow, damaged --data files, sizes beyond the memory
limit, bounds whose assumptions fail. References: NumPy typed here from docs/mathematics.md §3, closed forms,
/proc/meminfo."""

import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from attngrad.cli.main import main
from attngrad.errors import InputError
from attngrad.numeric import resources
from attngrad.numeric import simulate as sim
from attngrad.numeric.landscape import landscape
from attngrad.numeric.one_layer import (KERNELS, SCORE_LIMIT, Sizes, jacobian, jacobian_bytes, load_data,
                                        loss_and_grads, make_instance, score_reach)

from test_simulate import numpy_loss  # noqa: E402  (the loss typed from docs/mathematics.md §3, independently)

TINY = Sizes(N=2, n=3, D=4, d=2, dv=2, dy=1)
SMALL_ARGS = ["--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2", "--dy", "1"]


def one_sentence(err) -> str:
    text = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in text and text.endswith(".")
    return text


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def assert_exit_2(res, *fragments):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()  # stderr may also carry a progress line before the error
    assert "Traceback" not in res.output and lines[-1].startswith("Error: ")
    assert sum(line.startswith("Error: ") for line in lines) == 1
    for f in fragments:
        assert f in res.output


# 1. no step size without curvature ---------------------------------------------------------------------------
@given(st.floats(1e-300, 1e300), st.integers(1, 64))
def test_auto_eta_is_n_over_lambda_max(lam, N):
    assert sim.auto_eta(lam, N) == pytest.approx(N / lam, rel=1e-15)


@pytest.mark.parametrize("lam", [0.0, -1e-20, 5e-324, float("nan")])
def test_auto_eta_without_curvature_is_one_sentence(lam):
    with pytest.raises(InputError) as err:
        sim.auto_eta(lam, 16)
    assert "give a step size" in one_sentence(err)


def test_zero_output_weights_need_a_step_size_and_with_one_the_loss_stays_put():
    settings = sim.Settings(sizes=TINY, steps=5, scales=(("W_O", 0.0),))
    with pytest.raises(InputError) as err:
        sim.simulate(["softmax"], [("W_V",)], [0], settings)
    assert "λ_max(J₀J₀ᵀ) > 0" in one_sentence(err)
    run = sim.simulate(["softmax"], [("W_V",)], [0], sim.replace(settings, eta=0.1))[0]
    inst = make_instance(TINY, 0, scales={"W_O": 0.0})
    # F = 0 whatever W_V is, so ∇f = 0 and f = (1/2N)‖Y‖² at every step
    assert np.allclose(run.losses[: run.last + 1], 0.5 * np.sum(inst.Y**2) / TINY.N, rtol=1e-14)


def test_subnormal_data_needs_a_step_size(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, X=rng.standard_normal((2, 3, 8)) * 1e-320, Y=rng.standard_normal((2, 3, 1)))
    res = run_cli("simulate", "--data", str(path), "--steps", "5", "--kernel", "softmax", "--train", "W_V",
                  "--seeds", "0")
    assert_exit_2(res, "give a step size")
    res = run_cli("simulate", "--init-scale", "W_O=0", "--steps", "5", "--seeds", "0", *SMALL_ARGS)
    assert_exit_2(res, "give a step size")


# 1. scores that overflow -------------------------------------------------------------------------------------
def numpy_scores(kernel, X, W):
    """What the kernels form before exp: q·k (softmax), or ‖q‖², ‖k‖² and 2q·k (the Gaussian kernels)."""
    X2 = X.reshape(-1, X.shape[-1])
    Q, K = X2 @ W["W_Q"], X2 @ W["W_K"]
    dots = np.abs(Q @ K.T)
    if kernel == "softmax":
        return dots.max()
    return max((Q * Q).sum(1).max(), (K * K).sum(1).max(), 2 * dots.max())


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KERNELS), st.integers(0, 2**32 - 1), st.floats(-30, 30), st.floats(-30, 30),
       st.floats(0, 5))
def test_score_reach_bounds_the_scores_on_the_whole_slice(kernel, seed, log_q, log_k, span):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, 3, 4))
    W = {"W_Q": 10.0**log_q * rng.standard_normal((4, 2)), "W_K": 10.0**log_k * rng.standard_normal((4, 2))}
    U = {w: rng.standard_normal(a.shape) for w, a in W.items()}
    V = {"W_Q": rng.standard_normal((4, 2))}
    reach = score_reach(kernel, X, W, (U, V))
    assert numpy_scores(kernel, X, W) <= reach(0.0) * (1 + 1e-12)
    for a, b in rng.uniform(-span, span, (5, 2)):
        moved = {"W_Q": W["W_Q"] + a * U["W_Q"] + b * V["W_Q"], "W_K": W["W_K"] + a * U["W_K"]}
        assert numpy_scores(kernel, X, moved) <= reach(span) * (1 + 1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("scales", [{"W_Q": 1e305}, {"W_Q": 1e160, "W_K": 1e160}, {"W_Q": 1e300, "W_K": 1e300}])
def test_overflowing_scores_are_one_sentence_at_every_entry_point(kernel, scales):
    inst = make_instance(TINY, 0, scales=scales, tie_qk=False)
    for call in (lambda: loss_and_grads(kernel, inst.X, inst.Y, inst.weights),
                 lambda: jacobian(kernel, inst, ("W_V",)),
                 lambda: sim.simulate([kernel], [("W_Q",)], [0], sim.Settings(sizes=TINY, steps=3, scales=tuple(
                     scales.items()), tie_qk=False))):
        with pytest.raises(InputError) as err:
            call()
        assert f"attention scores of the {kernel} kernel" in one_sentence(err)


def test_large_finite_softmax_scores_are_computed_stably():
    """Softmax needs only q·k finite: ‖q‖ ~ 1e160 with ‖k‖ ~ 1e-160 gives moderate scores, and near the limit the
    kernel still agrees with NumPy's stable softmax."""
    for scales in ({"W_Q": 1e160, "W_K": 1e-160}, {"W_Q": 1e149, "W_K": 1e149}):
        inst = make_instance(TINY, 1, scales=scales, tie_qk=False)
        assert score_reach("softmax", inst.X, inst.weights)(0.0) < SCORE_LIMIT
        res = loss_and_grads("softmax", inst.X, inst.Y, inst.weights, ("W_V",))
        assert res.loss == pytest.approx(numpy_loss("softmax", inst.X, inst.Y, inst.weights), rel=1e-12)


@pytest.mark.parametrize("lambda_every", [1, 100], ids=["at a checkpoint", "inside a chunk"])
def test_a_run_whose_scores_overflow_midway_diverges_there_and_keeps_the_steps_before(lambda_every):
    """η = 1e300 takes W_Q, W_K to ~1e297 in one step: the scores at step 1 overflow (a checkpoint finds it, or the
    generated descent does). Step 0 is kept with its loss; step 1 records none."""
    settings = sim.Settings(sizes=TINY, steps=10, eta=1e300, lambda_every=lambda_every)
    run = sim.simulate(["softmax"], [("W_Q", "W_K", "W_V")], [0], settings)[0]
    inst = make_instance(TINY, 0)
    assert run.status == "diverged" and run.last == 1
    assert run.losses[0] == pytest.approx(numpy_loss("softmax", inst.X, inst.Y, inst.weights), rel=1e-12)
    assert math.isnan(run.losses[1])
    assert any("diverged at step 1: the attention scores overflow float64" in n for n in run.notes)
    kept = sim.rows([run])
    assert [r["step"] for r in kept] == [0, 1] and math.isfinite(kept[0]["loss"])
    summary = run.summary(settings.target)
    assert summary["pl_checks"] == summary["pl_holds"] == 1  # step 0 only: step 1 has nothing to check
    assert not sim.broke_a_bound(summary)


def test_landscape_refuses_a_span_whose_scores_overflow_and_names_the_largest_that_does_not():
    inst = make_instance(TINY, 2)
    with pytest.raises(InputError) as err:
        landscape("softmax", ("W_Q",), inst, span=1e300, points=3)
    text = one_sentence(err)
    largest = float(text.rsplit("at most ", 1)[1].rstrip("."))
    assert 0 < largest < 1e300
    # just below it the slice is computed: W_Q alone moves, V·W_O stays, so f stays within NumPy's f range
    sl = landscape("softmax", ("W_Q",), inst, span=largest * 0.99, points=3)
    assert np.isfinite(sl.losses).all()
    W = dict(inst.weights)
    assert sl.centre == pytest.approx(numpy_loss("softmax", inst.X, inst.Y, W), rel=1e-12)
    with pytest.raises(InputError):
        landscape("softmax", ("W_Q",), inst, span=largest * 1.03, points=3)


def test_landscape_refuses_a_slice_whose_loss_overflows():
    """W_V alone leaves the scores alone, but f grows as span²: 1e100 fits float64 (f matches NumPy at a corner),
    1e200 does not."""
    inst = make_instance(TINY, 2)
    sl = landscape("gaussian", ("W_V",), inst, span=1e100, points=3)
    rng = np.random.default_rng([0, 11])  # the directions landscape draws (seed 0)
    from attngrad.numeric.landscape import filter_normalised

    U = filter_normalised(inst.weights, ("W_V",), rng)
    V = filter_normalised(inst.weights, ("W_V",), rng)
    corner = dict(inst.weights, W_V=inst.weights["W_V"] + 1e100 * U["W_V"] + 1e100 * V["W_V"])
    assert sl.losses[2, 2] == pytest.approx(numpy_loss("gaussian", inst.X, inst.Y, corner), rel=1e-9)
    with pytest.raises(InputError) as err:
        landscape("gaussian", ("W_V",), inst, span=1e200, points=3)
    assert "loss overflows float64" in one_sentence(err)


@pytest.mark.parametrize("args,fragment", [
    (["simulate", "--init-scale", "W_Q=1e300", "--steps", "5"], "attention scores of the softmax kernel"),
    (["simulate", "--init-scale", "W_Q=1e300", "--init-scale", "W_K=1e300", "--no-tie-qk", "--kernel", "softmax",
      "--steps", "5"], "attention scores of the softmax kernel"),
    (["simulate", "--init-scale", "W_Q=1e300", "--no-tie-qk", "--kernel", "gaussian-normalised", "--steps", "5"],
     "attention scores of the gaussian-normalised kernel"),
    (["landscape", "--span", "1e300", "--steps", "5", "--points", "3", "--kernel", "softmax"], "give a span of at most"),
    (["bounds", "--init-scale", "W_Q=1e300"], "attention scores of the softmax kernel"),
])
def test_cli_overflowing_scores_exit_2(args, fragment):
    assert_exit_2(run_cli(*args, *SMALL_ARGS), fragment)


# 2. --data ---------------------------------------------------------------------------------------------------
def good_npz(path):
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.standard_normal((2, 3, 5)), Y=rng.standard_normal((2, 3, 1)))
    return path


def test_damaged_or_foreign_files_are_one_sentence(tmp_path):
    good = good_npz(tmp_path / "good.npz")
    raw = good.read_bytes()
    cases = {"truncated.npz": raw[: len(raw) // 2], "empty.npz": b"", "text.txt": b"X,Y\n1,2\n"}
    flipped = bytearray(raw)
    flipped[100] ^= 0xFF  # inside X's data: the CRC no longer matches
    cases["crc.npz"] = bytes(flipped)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("X", "not an array")
    cases["foreign.npz"] = buf.getvalue()
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "single.npy", np.zeros((2, 3, 5)))
    np.savez(tmp_path / "objects.npz", X=np.array([1, "a"], dtype=object), Y=np.zeros((2, 3, 1)))
    expected = {"truncated.npz": "damaged or truncated", "empty.npz": "is empty", "text.txt": "neither an .npz",
                "crc.npz": "damaged or truncated", "foreign.npz": "not a NumPy array", "single.npy": "is an .npy file",
                "objects.npz": "Cannot read the arrays", "missing.npz": "There is no file"}
    for name, fragment in expected.items():
        with pytest.raises(InputError) as err:
            load_data(str(tmp_path / name))
        assert fragment in one_sentence(err), name
        assert_exit_2(run_cli("simulate", "--data", str(tmp_path / name), "--steps", "2"), fragment)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_truncation_or_corruption_is_a_sentence_or_the_same_arrays(tmp_path_factory, data):
    good = good_npz(tmp_path_factory.mktemp("npz") / "good.npz")
    raw = bytearray(good.read_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for i in data.draw(st.lists(st.integers(0, max(0, len(raw) - 1)), max_size=3)) if raw else []:
        raw[i] ^= data.draw(st.integers(1, 255))
    path = good.with_name("damaged.npz")
    path.write_bytes(bytes(raw))
    try:
        got = load_data(str(path))
    except InputError as err:
        assert "\n" not in str(err)
        return
    with np.load(good) as z:  # read intact (a flipped byte in the zip's padding changes nothing)
        assert np.array_equal(got.X, z["X"]) and np.array_equal(got.Y, z["Y"])


def test_every_flipped_header_bit_is_a_sentence_or_the_same_arrays(tmp_path):
    """Every byte flipped in turn, with the bits that name a zip member's compression method, version and flags
    (encryption, patched data) among them: never an exception other than InputError."""
    good = good_npz(tmp_path / "good.npz")
    raw = good.read_bytes()
    with np.load(good) as z:
        X, Y = z["X"], z["Y"]
    path = tmp_path / "flipped.npz"
    refused = 0
    for i in range(len(raw)):
        for bit in (1, 32, 64, 255):
            flipped = bytearray(raw)
            flipped[i] ^= bit
            path.write_bytes(bytes(flipped))
            try:
                got = load_data(str(path))
            except InputError as err:
                assert "\n" not in str(err)
                refused += 1
                continue
            assert np.array_equal(got.X, X) and np.array_equal(got.Y, Y)
    assert refused > len(raw)  # most flips are caught (the CRC covers the data)


def test_an_npz_whose_arrays_exceed_the_memory_limit_is_refused_before_reading(tmp_path):
    """A header may promise any shape: the bytes it promises are checked before anything is read."""
    import numpy.lib.format as npy_format

    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**3, 10**3)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", buf.getvalue())
        zf.writestr("Y.npy", buf.getvalue())
    with pytest.raises(InputError) as err:
        load_data(str(path))
    assert "would need 14.6 TiB for its arrays" in one_sentence(err)


# 3. sizes nobody can run -------------------------------------------------------------------------------------
def test_physical_memory_is_what_the_kernel_reports():
    if not os.path.exists("/proc/meminfo"):
        pytest.skip("no /proc/meminfo")
    with open("/proc/meminfo") as fh:
        total = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemTotal:"))
    assert resources.physical_memory() == total
    assert resources.memory_limit() == total // 2


@pytest.mark.parametrize("count,text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (80 * 2**30, "80.0 GiB"),
                                        (3 * 2**50, "3.0 PiB")])
def test_format_bytes(count, text):
    assert resources.format_bytes(count) == text


def test_refuse_if_too_big_names_the_figure_and_the_limit(monkeypatch):
    monkeypatch.setattr(resources, "physical_memory", lambda: 2**30)
    resources.refuse_if_too_big("A job", 2**29)  # exactly the limit: allowed
    with pytest.raises(InputError) as err:
        resources.refuse_if_too_big("A job", 2**29 + 1, "its arrays")
    assert one_sentence(err) == ("A job would need 512.0 MiB for its arrays; this machine has 1.0 GiB "
                                 "(limit: half of it).")
    monkeypatch.setattr(resources, "physical_memory", lambda: None)
    resources.refuse_if_too_big("A job", 1e30)  # unknown memory: nothing is refused


def test_the_jacobian_estimate_covers_the_jacobian():
    inst = make_instance(TINY, 0)
    for train in (("W_V",), ("W_Q", "W_K", "W_V"), ("W_K", "W_O")):
        J = jacobian("softmax", inst, train)
        assert J.nbytes + 2 * 8 * J.shape[0] ** 2 <= jacobian_bytes(TINY, train) <= 10 * (J.nbytes + 8 * J.shape[0] ** 2)


@pytest.mark.parametrize("args,fragment", [
    (["--steps", "1000000000"], "for the loss curves of 48 runs × 1,000,000,000 steps"),
    (["--seeds", "0-100000"], "for the data and weights of 600,006 runs"),
    (["--D", "10000000"], "for the Jacobians of"),
])
def test_cli_sizes_beyond_the_memory_limit_exit_2_at_once(args, fragment):
    res = run_cli("simulate", *args)
    assert_exit_2(res, "The simulation would need", fragment, "(limit: half of it).")


def test_the_loss_curves_estimate_is_exact_and_a_huge_seed_range_is_not_listed(monkeypatch):
    monkeypatch.setattr(resources, "physical_memory", lambda: 2**40)
    parts = dict((p, b) for b, p in sim.memory_parts(6, 2, [("W_V",)], sim.Settings(sizes=TINY, steps=1000), 1))
    assert parts["the loss curves of 6 runs × 1,000 steps"] == 6 * 1000 * 2 * 8  # losses and ‖∇f‖², float64
    with pytest.raises(InputError) as err:
        sim.simulate(["softmax"], [("W_V",)], range(10**12), sim.Settings(sizes=TINY, steps=2))
    assert "1,000,000,000,000 runs" in one_sentence(err)


def test_landscape_and_bounds_check_their_memory_too(monkeypatch):
    monkeypatch.setattr(resources, "physical_memory", lambda: 2**10)
    inst = make_instance(TINY, 0)
    with pytest.raises(InputError) as err:
        landscape("softmax", ("W_Q",), inst, span=1.0, points=3)
    assert one_sentence(err).startswith("The slice would need")
    assert_exit_2(run_cli("bounds", "rate/linear", *SMALL_ARGS), "The numbers at the instance would need")


# 5. bounds whose assumptions fail ----------------------------------------------------------------------------
def numpy_wv_constants(inst):
    """μ, L of W_V alone from σ(F), σ(W_O) with F = [S_iX_i] by NumPy (the closed forms of pl/W_V)."""
    X, W = inst.X, inst.weights
    s = (X @ W["W_Q"]) @ (X @ W["W_K"]).transpose(0, 2, 1) / np.sqrt(W["W_Q"].shape[1])
    S = np.exp(s - s.max(-1, keepdims=True))
    S /= S.sum(-1, keepdims=True)
    F = (S @ X).reshape(-1, X.shape[2])
    sF, sO = np.linalg.svd(F, compute_uv=False), np.linalg.svd(W["W_O"], compute_uv=False)
    N = X.shape[0]
    mu = (sF[-1] * sO[-1]) ** 2 / N if X.shape[2] >= F.shape[0] else 0.0
    return mu, (sF[0] * sO[0]) ** 2 / N


def bounds_json(*args):
    res = run_cli("bounds", "rate/linear", "--json", *args, *SMALL_ARGS)
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, {r["quantity"]: r for r in json.loads(res.stdout)["bounds"][0]["numbers"]}


def test_rate_steps_are_zero_when_the_start_is_below_epsilon_and_the_closed_form_otherwise():
    code, rows = bounds_json("--epsilon", "1e300")
    assert code == 0
    assert rows["steps to f ≤ 1e+300"]["theoretical"] == 0 and rows["steps to f ≤ 1e+300"]["numerical"] == 0
    assert rows["steps to f ≤ 1e+300"]["holds"] is True
    code, rows = bounds_json("--epsilon", "1e-3")
    inst = sim.Settings(sizes=Sizes(2, 3, 8, 2, 2, 1)).instance(0)
    mu, L = numpy_wv_constants(inst)
    f0 = numpy_loss("softmax", inst.X, inst.Y, inst.weights)
    T = math.ceil(math.log(1e-3 / f0) / math.log(1 - mu / L))  # η = 1/L
    assert code == 0 and rows["steps to f ≤ 0.001"]["theoretical"] == T > 0


@pytest.mark.parametrize("train,L_name", [("W_V", "L"), ("W_Q", "L̂")])
def test_a_step_beyond_one_over_L_makes_the_rate_bound_not_applicable(train, L_name):
    code, rows = bounds_json("--eta", "1e300", "--train", train)
    assert code == 0
    row = rows["steps to f ≤ 1e-08"]
    assert row["holds"] is None and row["not_applicable"].startswith(f"η ≤ 1/{L_name} (here η·{L_name} = ")
    if train == "W_V":
        _, L = numpy_wv_constants(sim.Settings(sizes=Sizes(2, 3, 8, 2, 2, 1)).instance(0))
        assert float(row["not_applicable"].split("= ")[1].rstrip(")")) == pytest.approx(1e300 * L, rel=1e-2)
        assert rows["η, η·L̂"]["theoretical"] == pytest.approx(1e300 * L, rel=1e-9)


def test_no_step_size_makes_the_rate_bound_not_applicable_and_pl_w_v_still_reports():
    res = run_cli("bounds", "pl/W_V", "rate/linear", "--json", "--init-scale", "W_O=0", *SMALL_ARGS)
    assert res.exit_code == 0, res.output
    by_id = {b["id"]: b["numbers"] for b in json.loads(res.stdout)["bounds"]}
    (rate,) = by_id["rate/linear"]
    assert rate["not_applicable"].startswith("0 < η ≤ 1/L") and rate["holds"] is None
    wv = {r["quantity"]: r for r in by_id["pl/W_V"]}
    assert wv["μ: λ_min(JJᵀ)/N vs σ_min(F)²σ_min(W_O)²/N"]["theoretical"] == 0.0
    assert wv["σ_min(F), σ_max(F)"]["numerical"] is None


def test_simulate_with_a_step_beyond_one_over_L_breaks_no_bound():
    res = run_cli("simulate", "--eta", "1e300", "--steps", "20", "--kernel", "softmax", "--train", "W_V", "--seeds",
                  "0", "--json", *SMALL_ARGS)
    assert res.exit_code == 0, res.output
    (run,) = json.loads(res.stdout)["runs"]
    assert run["status"] == "diverged" and run["rate"]["checked"] == 0
    assert run["rate"]["not_applicable"].startswith("η ≤ 1/L (here η·L = ")
    _, L = numpy_wv_constants(sim.Settings(sizes=Sizes(2, 3, 8, 2, 2, 1)).instance(0))
    assert run["rate"]["eta_L"] == pytest.approx(1e300 * L, rel=1e-9)
    assert run["predicted_rate"] is None
    res = run_cli("simulate", "--eta", "1e300", "--steps", "20", "--kernel", "softmax", "--train", "W_V", "--seeds",
                  "0", *SMALL_ARGS)
    assert res.exit_code == 0 and "n/a" in res.output and "not applicable: η ≤ 1/L" in res.output


def test_with_eta_at_one_over_L_the_exact_rate_bound_is_still_checked():
    """The automatic η = 1/L gives η·L = 1 up to rounding: the bound applies and holds at every step."""
    settings = sim.Settings(sizes=Sizes(2, 3, 8, 2, 2, 1), steps=40)
    run = sim.simulate(["softmax"], [("W_V",)], [0], settings)[0]
    rate = run.rate_checks()
    assert "not_applicable" not in rate and rate["eta_L"] == pytest.approx(1.0, rel=1e-12)
    assert rate["held"] == rate["checked"] == run.last


@pytest.mark.parametrize("points, span", [(1, 1.0), (5, -1.0), (5, float("inf")), (402, 1.0)])
def test_landscape_checks_its_grid_before_any_training(monkeypatch, points, span):
    import attngrad.numeric.landscape as L

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the grid was checked")

    monkeypatch.setattr(L, "simulate", no_training)
    with pytest.raises(InputError, match="grid needs|span must be"):
        L.trained_slices(["softmax"], ("W_Q",), 0, L.Settings(), span=span, points=points)
