"""Every bad input a sentence (issue 11): the validation helpers, output paths checked before the work, the memory
and time a benchmark is predicted to need, duplicate names and ids, and API calls that used to raise TypeError."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from attngrad.cli.main import main
from attngrad.cli.outputs import PLOT_SUFFIXES, check_file, check_folder, check_prefix
from attngrad.errors import InputError
from attngrad.numeric import inputs as I


def run(*args):
    return CliRunner().invoke(main, list(args))


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and "Traceback" not in message and \
        not re.search(r"(?<!e\.g)\.\s+[A-Z]", message)  # no second sentence ("e.g. W_Q" is not one)


def assert_exit_2(res, fragment: str) -> None:
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    assert fragment in errors[0], res.output
    assert one_sentence(errors[0][len("Error: "):]), errors[0]


def must_not_run(*args, **kwargs):
    raise AssertionError("the work started although its input was bad")


# the validation helpers -----------------------------------------------------------------------------------
ANY_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.booleans(),
                      st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=2))


@given(ANY_VALUE)
def test_positive_number_accepts_exactly_the_finite_positive_reals(value):
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = real and (isinstance(value, int) or math.isfinite(value)) and value > 0
    if ok:
        assert I.positive_number("--budget", value) == float(value)
    else:
        with pytest.raises(InputError) as info:
            I.positive_number("--budget", value)
        assert str(info.value).startswith("--budget must be a positive finite number") and one_sentence(str(info.value))


@given(ANY_VALUE, st.integers(-3, 3), st.integers(0, 5))
def test_integer_accepts_exactly_the_integers_in_range(value, low, width):
    high = low + width
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if ok:
        assert I.integer("levels", value, low, high) == value
    else:
        with pytest.raises(InputError, match=rf"^levels must be an integer from {low} to {high}, got "):
            I.integer("levels", value, low, high)


@pytest.mark.parametrize("value,message", [
    (-1, "seed must be a non-negative integer, got -1."), ("a", "seed must be a non-negative integer, got 'a'."),
    (1.0, "seed must be a non-negative integer, got 1.0."), (True, "seed must be a non-negative integer, got True."),
])
def test_seed_is_a_non_negative_integer(value, message):
    with pytest.raises(InputError) as info:
        I.seed("seed", value)
    assert str(info.value) == message
    assert I.seed("seed", np.int64(3)) == 3


@given(st.lists(st.sampled_from(["softmax", "gaussian", "cauchy", 3]), max_size=4))
def test_names_accepts_lists_of_known_names_and_refuses_a_bare_string(items):
    choices = ("softmax", "gaussian")
    if all(x in choices for x in items):
        assert I.names("kernels", tuple(items), choices) == items
    else:
        bad = next(x for x in items if x not in choices)
        with pytest.raises(InputError, match=rf"kernels may contain only softmax, gaussian, got {bad!r}\."):
            I.names("kernels", items, choices)
    with pytest.raises(InputError, match=r"kernels must be a list of names, not the string 'softmax' \(write \['softmax'\]\)\."):
        I.names("kernels", "softmax", choices)
    with pytest.raises(InputError, match="kernels must be a list of names, got 3."):
        I.names("kernels", 3, choices)


# API calls that raised TypeError or AttributeError ------------------------------------------------------
def _lowrank_call(**kw):
    from attngrad.numeric.attention import random_inputs
    from attngrad.numeric.lowrank import lowrank_loss_and_grad

    return lambda: lowrank_loss_and_grad(**random_inputs(12, 3), **kw)


def _one_layer_call(**kw):
    from attngrad.numeric import one_layer as OL

    inst = OL.make_instance(OL.Sizes(N=2, n=3, D=8, d=2, dv=2, dy=1), 0)
    return lambda: OL.loss_and_grads("softmax", inst.X, inst.Y, inst.weights, **kw)


def _simulate_call(kernels=("softmax",), modes=(("W_V",),), seeds=(0,)):
    from attngrad.numeric import one_layer as OL
    from attngrad.numeric import simulate as sim

    st_ = sim.Settings(sizes=OL.Sizes(N=2, n=3, D=8, d=2, dv=2, dy=1), steps=2)
    return lambda: sim.simulate(kernels, modes, seeds, st_)


def _settings_sizes_tuple():
    from attngrad.numeric import simulate as sim

    return lambda: sim.Settings(sizes=(16, 8, 128, 16, 16, 1))


def _check_grad(fn=np.sum, grad=np.ones(3), x=np.zeros(3), **kw):
    from attngrad.numeric.fdcheck import check_grad

    return lambda: check_grad(fn, grad, x, **kw)


API_CASES = {
    "lowrank eps='foo'": (lambda: _lowrank_call(eps="foo"), "eps must be a number in [1e-13, 1), got 'foo'."),
    "lowrank eps=nan": (lambda: _lowrank_call(eps=float("nan")), "eps must be a number in"),
    "lowrank poly=3": (lambda: _lowrank_call(poly=3), "poly must be one of"),
    "one_layer train=123": (lambda: _one_layer_call(train=123), "train must be a list of weights, got 123."),
    "one_layer train=[1]": (lambda: _one_layer_call(train=[1]), "Unknown training mode '1'"),
    "Settings(sizes=tuple)": (_settings_sizes_tuple, "sizes must be a one_layer.Sizes, got tuple"),
    "simulate kernels='softmax'": (lambda: _simulate_call(kernels="softmax"),
                                   "kernels must be a list of kernels, not the string 'softmax'"),
    "simulate modes='W_V'": (lambda: _simulate_call(modes="W_V"), "modes must be a list of training modes"),
    "simulate seeds=3": (lambda: _simulate_call(seeds=3), "seeds must be a list of seeds, got 3."),
    "check_grad fn=3": (lambda: _check_grad(fn=3), "fn must be a function, got int 3."),
    "check_grad seed='a'": (lambda: _check_grad(mode="directions", seed="a"),
                            "seed must be a non-negative integer, got 'a'."),
    "check_grad seed=-1": (lambda: _check_grad(seed=-1), "seed must be a non-negative integer"),
    "check_grad atol=nan": (lambda: _check_grad(atol=float("nan")), "atol must be a finite number ≥ 0"),
    "check_grad n_directions=1.5": (lambda: _check_grad(mode="directions", n_directions=1.5),
                                    "n_directions must be a positive integer"),
}


@pytest.mark.parametrize("case", API_CASES)
def test_api_calls_raise_input_error_with_one_sentence(case):
    build, fragment = API_CASES[case]
    call = build()
    with pytest.raises(InputError) as info:
        call()
    assert fragment in str(info.value) and one_sentence(str(info.value)), str(info.value)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.sampled_from(["full", "directions"]))
def test_check_grad_of_a_scalar_keeps_its_shape(x, mode):
    """A Python float or a 0-d array is a point of shape (): fn and the claimed gradient see it as it was given."""
    from attngrad.numeric.fdcheck import check_grad, fd_gradient

    for point in (x, np.array(x)):
        seen = []
        grad, err = fd_gradient(lambda v: seen.append(np.shape(v)) or np.sin(v), point)
        assert np.shape(grad) == () and set(seen) == {()}
        assert abs(grad - math.cos(x)) <= err + 1e-12
        assert check_grad(np.sin, np.cos, point, mode=mode).ok
        assert not check_grad(np.sin, lambda v: np.cos(v) + 0.1, point, mode=mode).ok


# scores that do not overflow ------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(st.integers(-900, 900), st.integers(0, 3))
def test_opposite_scalings_that_keep_the_scores_are_accepted(k, seed):
    """A2·2ᵏ with X·2⁻ᵏ leaves every score s·A1XA2ᵀ as it was (powers of two scale exactly): the exact and the
    low-rank paths must accept the scaled inputs and give the loss unchanged and ∇_X scaled by 2ᵏ."""
    from attngrad.numeric.attention import loss_and_grad, random_inputs
    from attngrad.numeric.lowrank import lowrank_loss_and_grad

    a = random_inputs(24, 3, seed=seed, entry_scale=0.5)
    b = dict(a, A2=a["A2"] * 2.0**k, X=a["X"] * 2.0**-k)
    exact, scaled = loss_and_grad(**a), loss_and_grad(**b)
    assert scaled.loss == pytest.approx(exact.loss, rel=1e-12)
    np.testing.assert_allclose(scaled.grad_X * 2.0**-k, exact.grad_X, rtol=1e-10, atol=1e-12 * abs(exact.grad_X).max())
    low, low_scaled = lowrank_loss_and_grad(**a), lowrank_loss_and_grad(**b)
    assert low_scaled.degree == low.degree and low_scaled.beta == pytest.approx(low.beta, rel=1e-13)
    assert low_scaled.loss == pytest.approx(low.loss, rel=1e-10)
    np.testing.assert_allclose(low_scaled.grad_X * 2.0**-k, low.grad_X, rtol=1e-8, atol=1e-10 * abs(low.grad_X).max())
    np.testing.assert_allclose(low_scaled.grad_Y, low.grad_Y, rtol=1e-8, atol=1e-10 * abs(low.grad_Y).max())


@settings(max_examples=60, deadline=None)
@given(st.integers(-1020, 1020), st.integers(-1020, 1020), st.integers(0, 5))
@example(1020, -1000, 0)  # T's row sums overflow on their own, the scores are ~2²⁰
def test_check_scores_refuses_exactly_where_its_bound_reaches_1e300(a, b, seed):
    """T·2ᵃ and A2·2ᵇ: the bound max_j Σ_k|T_jk|·max|A2| ≥ max|score| is 2^(a+b) times that of the unscaled
    arrays; computed in log₂ (no float can overflow there), the check must pass below 1e300 and refuse above it,
    however large T and however small A2 are on their own."""
    from attngrad.numeric.kernel_support import check_scores

    rng = np.random.default_rng(seed)
    T, A2 = rng.standard_normal((6, 64)), rng.standard_normal((7, 64))  # 64 columns: T's row sums may overflow
    with np.errstate(over="ignore", under="ignore"):
        Ts, As = T * 2.0**a, A2 * 2.0**b
    if not (np.isfinite(Ts).all() and np.isfinite(As).all()) or np.abs(Ts).min() < 1e-300 or np.abs(As).min() < 1e-300:
        return  # the scaling itself overflowed or left the normal range: not the case under test
    log_bound = math.log2(np.abs(T).sum(axis=1).max()) + math.log2(np.abs(A2).max()) + a + b
    assert math.log2(np.abs(T @ A2.T).max()) + a + b <= log_bound + 1e-12  # it bounds the scores
    if log_bound < math.log2(1e300) - 1e-9:
        check_scores(Ts, As)
    elif log_bound > math.log2(1e300) + 1e-9:
        with pytest.raises(InputError, match="may overflow float64"):
            check_scores(Ts, As)


# output paths --------------------------------------------------------------------------------------------
def test_check_file_cases(tmp_path, monkeypatch):
    check_file(str(tmp_path / "a.png"), "the plot (--plot)", PLOT_SUFFIXES)
    (tmp_path / "old.svg").write_text("x")
    check_file(str(tmp_path / "old.svg"), "the plot (--plot)", PLOT_SUFFIXES)  # replaced
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (tmp_path / "dir.png").mkdir()
    cases = {
        str(tmp_path / "a.txt"): "its suffix must be .png, .pdf or .svg (got '.txt')",
        str(tmp_path / "a"): "its suffix must be .png, .pdf or .svg (got none)",
        str(tmp_path / "missing" / "a.png"): f"the folder {tmp_path / 'missing'} does not exist",
        str(blocker / "a.png"): f"{blocker} is a file, not a folder",
        str(tmp_path / "dir.png"): "it is a folder; give a file name",
    }
    for path, fragment in cases.items():
        with pytest.raises(InputError) as info:
            check_file(path, "the plot (--plot)", PLOT_SUFFIXES)
        message = str(info.value)
        assert message.startswith(f"Cannot write the plot (--plot) to {path}: ") and fragment in message, message
        assert one_sentence(message)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # this user may write nothing (root may write anything)
    with pytest.raises(InputError, match="this user may not write to the folder"):
        check_file(str(tmp_path / "a.png"), "the plot (--plot)", PLOT_SUFFIXES)
    with pytest.raises(InputError, match="this user may not create a folder in the folder"):
        check_folder(str(tmp_path / "new"), "the generated kernels (--out)")


def test_check_prefix_and_folder(tmp_path):
    check_prefix(str(tmp_path / "run"), "the results (--out)", (".csv", ".json"))
    (tmp_path / "run.json").mkdir()
    with pytest.raises(InputError, match=r"to .*run\.json: it is a folder"):
        check_prefix(str(tmp_path / "run"), "the results (--out)", (".csv", ".json"))
    with pytest.raises(InputError, match="give a file name prefix"):
        check_prefix(str(tmp_path) + "/", "the results (--out)", (".csv",))
    check_folder(str(tmp_path / "kernels"), "the generated kernels (--out)")  # created by the writer
    check_folder(str(tmp_path), "the generated kernels (--out)")
    with pytest.raises(InputError, match="does not exist"):
        check_folder(str(tmp_path / "a" / "b"), "the generated kernels (--out)")
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="it is a file, not a folder"):
        check_folder(str(tmp_path / "f"), "the generated kernels (--out)")


# (command line, the function that would do the work, the fragment of the error): each must fail before the work
OUTPUT_CASES = [
    (["bench", "exact", "--n", "256", "--d", "8", "--plot", "{tmp}/out.txt"], "attngrad.numeric.bench.run_exact",
     "its suffix must be .png, .pdf or .svg"),
    (["bench", "exact", "--n", "256", "--d", "8", "--plot", "{tmp}/no/b.png"], "attngrad.numeric.bench.run_exact",
     "does not exist"),
    (["bench", "lowrank", "--plot", "{tmp}/b.jpg"], "attngrad.numeric.bench_lowrank.run_lowrank", "suffix"),
    (["phase", "--plot", "{tmp}/p"], "attngrad.numeric.bench_lowrank.run_phase", "suffix"),
    (["simulate", "--plot", "{tmp}/s.csv"], "attngrad.numeric.simulate.simulate", "suffix"),
    (["simulate", "--out", "{tmp}/no/run"], "attngrad.numeric.simulate.simulate", "does not exist"),
    (["landscape", "--plot", "{tmp}/land"], "attngrad.numeric.simulate.simulate", "suffix"),
    (["landscape", "--out", "{tmp}/file/run"], "attngrad.numeric.simulate.simulate", "is a file, not a folder"),
    (["codegen", "--file", "{example}", "--out", "{tmp}/file/kernels"], "attngrad.derive.claims.import_user_file",
     "is a file, not a folder"),
]


@pytest.mark.parametrize("args,work,fragment", OUTPUT_CASES, ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_bad_output_paths_fail_before_the_work(tmp_path, monkeypatch, args, work, fragment):
    module, _, name = work.rpartition(".")
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, must_not_run)
    (tmp_path / "file").write_text("x")
    example = Path(__file__).resolve().parents[1] / "examples" / "causal_claims.py"
    res = run(*[a.format(tmp=tmp_path, example=example) for a in args])
    assert_exit_2(res, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing half-written


def test_landscape_plot_is_one_file_like_every_other_plot():
    """`landscape --plot` takes a file (one figure, a row of contour and surface per kernel), as every --plot does."""
    plot = next(p for p in main.commands["landscape"].params if p.name == "plot_path")
    assert "one row per kernel" in plot.help
    import inspect

    from attngrad.cli import plot as P

    assert list(inspect.signature(P.landscape_plot).parameters) == ["slices", "out"]


# numbers on the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("args,fragment", [
    (["phase", "--seed", "-1"], "--seed must be a non-negative integer, got -1."),
    (["bench", "lowrank", "--budget", "nan"], "--budget must be a positive finite number, got nan."),
    (["phase", "--budget", "-inf"], "--budget must be a positive finite number, got -inf."),
    (["bench", "exact", "--budget", "nan"], "--budget must be a positive finite number, got nan."),
    (["phase", "--repeats", "0"], "--repeats must be a positive integer, got 0."),
    (["check", "--jobs", "0", "attngrad/r-from-c"], "--jobs must be a positive integer, got 0."),
    (["bench", "lowrank", "--multilayer", "--plot", "x.png"], "plot"),
])
def test_numbers_on_the_command_line(monkeypatch, args, fragment):
    from attngrad.numeric import bench_lowrank

    for name in ("run_lowrank", "run_phase", "run_multilayer"):
        monkeypatch.setattr(bench_lowrank, name, must_not_run)
    assert_exit_2(run(*args), fragment)


def test_check_jobs_are_capped_at_the_cores():
    from attngrad.derive.check.runner import process_count

    cores = os.cpu_count() or 1
    assert process_count(1000) == cores and process_count(None) == cores and process_count(1) == 1
    res = run("check", "--jobs", "1000", "attngrad/r-from-c")
    assert res.exit_code == 0 and "project claims: 1 hold, 0 refuted, 0 inconclusive, 0 errors;" in res.output, res.output


# duplicate names and ids ---------------------------------------------------------------------------------
TWO_MODELS = """
from attngrad.derive import Matrix, Model, n, d, half_sq_norm
A, X = Matrix('A', n, d), Matrix('X', d, d)
m1 = Model({first!r}, 'first', ('X',))
m1.loss = m1.define('L', half_sq_norm(A @ X))
m2 = Model({second!r}, 'second', ('X',))
m2.loss = m2.define('L', half_sq_norm(2 * (A @ X)))
"""


@pytest.mark.parametrize("first,second,fragment", [
    ("twin", "twin", "Two models in {src} are named 'twin'"),
    ("a-b", "a_b", "The models 'a-b' and 'a_b' in {src} would both be written to a_b.py"),
])
def test_codegen_refuses_two_models_for_one_module_and_writes_nothing(tmp_path, first, second, fragment):
    src = tmp_path / "models.py"
    src.write_text(TWO_MODELS.format(first=first, second=second))
    out = tmp_path / "kernels"
    assert_exit_2(run("codegen", "--file", str(src), "--out", str(out)), fragment.format(src=src))
    assert not out.exists()
    src.write_text(TWO_MODELS.format(first=first, second=second + "2"))
    res = run("codegen", "--file", str(src), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert len(list(out.glob("*.py"))) == 2


def test_claims_with_one_id_are_refused(tmp_path):
    own = tmp_path / "own.py"
    own.write_text("from attngrad.derive import Claim, Matrix, n, d\nA = Matrix('A', n, d)\n"
                   "a = Claim('me/same', 'A + A = 2A', A + A, 2 * A)\nb = Claim('me/same', 'A = A', A, A)\n")
    assert_exit_2(run("check", "--file", str(own)), f"Two claims in {own} have the id 'me/same'")
    mixed = tmp_path / "mixed.py"  # the built-in claims and one of the user's with a built-in id
    mixed.write_text("from attngrad.derive import Claim, Matrix, n, d\n"
                     "from attngrad.derive.papers.registry import builtin_claims\nA = Matrix('A', n, d)\n"
                     "claims = builtin_claims() + [Claim('attngrad/r-from-c', 'A = A', A, A)]\n")
    assert_exit_2(run("check", "--list", "--file", str(mixed)), "have the id 'attngrad/r-from-c'")
    from attngrad.derive.claims import Claim, unique_ids
    from attngrad.derive.expr import Matrix

    A = Matrix("A", 2, 2)
    claims = [Claim(f"x/{i}", "", A, A) for i in range(3)]
    assert unique_ids(claims, "here") is claims


# what a benchmark needs, predicted before it starts ------------------------------------------------------
def test_bench_exact_refuses_a_grid_beyond_memory_before_it_starts(monkeypatch):
    """On a machine of 16 GiB (limit 8 GiB): n = 10⁷, d = 16 needs its inputs, n×d arrays and ~4.8 GiB of row buffers
    per thread; refused with the figure and the limit before anything is measured."""
    from attngrad.numeric import bench, resources
    from attngrad.numeric.kernel_support import resolve_threads

    monkeypatch.setattr(resources, "physical_memory", lambda: 16 * 2**30)
    monkeypatch.setattr(bench, "measured_rates", must_not_run)
    from attngrad.numeric.generated import block_for, load

    threads = resolve_threads(None)
    block = max(block_for(load("alman_song_s"), dt, 16, 10**7) for dt in ("float64", "float32"))
    rows = 8 * threads * block * (2 * 10**7 + 7 * 16 + 2)  # ROW_BUFFERS of alman_song_s: n, 1, d, d, n, d, d, 1, d, d, d
    need = 4 * 10**7 * 16 * 8 + bench.ND_ARRAYS * 10**7 * 16 * 8 + rows
    assert bench.predicted_bytes("generated", 10**7, 16, 8, threads, square=False) == need
    res = run("bench", "exact", "--n", "10000000", "--d", "16", "--methods", "generated")
    assert_exit_2(res, f"bench exact would need {resources.format_bytes(need)} for method generated at "
                       f"n = 10,000,000, d = 16")
    assert "this machine has 16.0 GiB (limit: half of it)" in res.output
    res = run("bench", "exact", "--n", "100000", "--d", "16", "--methods", "generated", "--budget", "1e-9")
    # n = 10⁵ fits in memory: the command goes on to measure the machine's rates (stubbed to fail here)
    assert "would need" not in res.output and isinstance(res.exception, AssertionError)
    assert "the work started" in str(res.exception)


def test_bench_exact_refuses_a_grid_beyond_its_time_budget():
    res = run("bench", "exact", "--n", "200000", "--d", "16", "--budget", "60")
    assert_exit_2(res, "bench exact would take at least")
    assert "beyond the --budget of 1.0 min" in res.output


def test_predicted_seconds_sum_the_lower_bound_over_the_calls():
    from attngrad.numeric.bench import bound_seconds, predicted_seconds

    rates = {"float64": {"gemm_flops": 1e10, "exp_per_s": 1e8}, "float32": {"gemm_flops": 2e10, "exp_per_s": 2e8}}
    got = predicted_seconds(["generated", "reference"], [100, 300], [4], ["float64", "float32"], 3, 2, rates, 2, True)
    by_hand = sum(2 * ((3 + 2) * (8 * n * n * 4 / r["gemm_flops"] + n * n / r["exp_per_s"]))
                  for r in rates.values() for n in (100, 300))
    by_hand += sum(2 * bound_seconds(300, 4, r) for r in rates.values())
    assert got == pytest.approx(by_hand, rel=1e-12)


def test_exact_call_time_and_memory_checks_of_bench_lowrank_and_phase(monkeypatch):
    """An exact call is refused when its lower bound alone exceeds --budget; no exact size (all n above
    --exact-max-n) refuses nothing."""
    from attngrad.numeric import resources
    from attngrad.numeric.bench import bound_seconds, check_call_time, check_memory

    rates = {"gemm_flops": 1e10, "exp_per_s": 1e8}
    n, d = 10**5, 8
    need = bound_seconds(n, d, rates)  # 64 s + 100 s
    check_call_time("phase", ("generated",), [(1000, 8), (n, d)], rates, need * 1.01)
    with pytest.raises(InputError) as info:
        check_call_time("phase", ("generated",), [(1000, 8), (n, d)], rates, need * 0.99)
    assert str(info.value) == ("phase would take at least 2.7 min for one call of the exact generated kernel at "
                               "n = 100,000, d = 8 (this machine's lower bound), beyond the --budget of 2.7 min; "
                               "lower --exact-max-n or raise --budget.")
    check_call_time("phase", ("generated",), [], rates, 1e-9)
    monkeypatch.setattr(resources, "physical_memory", lambda: 2**20)  # 1 MiB: everything is too big
    check_memory("phase", ["generated"], [], 8, 2)
    with pytest.raises(InputError, match=r"^phase would need .* for method lowrank at n = 100,000, d = 8 \(its inputs, "
                                         r"n×d arrays\); this machine has 1\.0 MiB \(limit: half of it\)\.$"):
        check_memory("phase", ["lowrank"], [(n, d)], 8, 2)


def _row_buffers_in_source(path: Path) -> list[str]:
    """The columns of the np.zeros((columns, block)[, dt]), np.zeros((block, columns), dt) and np.empty(block[, dt])
    buffers inside `kernel`'s prange loop, read off the generated source (the reference for ROW_BUFFERS)."""
    text = path.read_text()
    body = text[text.index("def kernel("):text.index("def kernel_serial(")]
    loop = body[body.index("for t in prange(nchunks):"):body.index("start = t * n // nchunks")]
    pattern = r"np\.(?:empty|zeros)\((?:\((.+?), block\)|\(block, (.+?)\)|block)(?:, dt)?\)"
    return [m.group(1) or m.group(2) or "1" for m in re.finditer(pattern, loop)]


def test_row_buffers_of_every_generated_module_match_its_kernel():
    import importlib

    import attngrad.numeric.generated as gen

    folder = Path(gen.__file__).parent
    checked = 0
    for path in sorted(folder.glob("*.py")):
        if "def kernel(" not in path.read_text():
            continue
        mod = importlib.import_module(f"attngrad.numeric.generated.{path.stem}")
        assert list(mod.ROW_BUFFERS) == _row_buffers_in_source(path), path.name
        checked += 1
    assert checked >= 13
    sizes = {"n": 1000, "d": 7}
    block = gen.block_for(gen.load("alman_song_s"), "float64", 7, 1000)
    assert gen.row_buffer_bytes("alman_song_s", sizes, 3) == 3 * 8 * block * (2 * 1000 + 7 * 7 + 2)
    assert gen.row_buffer_bytes("alman_song_s", sizes, 3, block=5) == 3 * 8 * 5 * (2 * 1000 + 7 * 7 + 2)


def test_predicted_memory_covers_the_measured_peak_of_the_generated_kernel():
    """The prediction holds the kernel's peak in a fresh process, and the row buffers are most of it (so the
    prediction is not an empty upper bound)."""
    from attngrad.numeric.bench import predicted_bytes, run_in_child, thread_bytes

    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to measure")
    n, d, threads = 30000, 4, 2
    peak = run_in_child("_peak_child", ["generated", n, d, "float64", "1/d", threads, 0])["peak_mb"] * 2**20
    assert peak <= predicted_bytes("generated", n, d, 8, threads)
    assert peak >= 0.5 * thread_bytes("generated", n, d, threads)
