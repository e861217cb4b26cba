"""Kernels printed from the chains: they agree with SymPy and the reference, and `--check` notices drift."""

import importlib.util
import json
from pathlib import Path

import numba
import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.derive import codegen as cg
from attngrad.derive import expr as ex
from attngrad.derive.claims import defined, import_user_file
from attngrad.derive.evaluate import Evaluator, ExactField, FloatField
from attngrad.derive.model import Model
from attngrad.derive.papers.alman_song import SCALES, alman_song
from attngrad.derive.papers.registry import codegen_targets
from attngrad.errors import InputError
from attngrad.numeric import check_grad, loss_and_grad, random_inputs
from attngrad.numeric.generated import load
from attngrad.vocabulary import ALMAN_SONG_MODULE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "causal_claims.py"
NAMES = ("A1", "A2", "A3", "E", "Y", "X")


def run(*args):
    return CliRunner().invoke(main, list(args))


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_gen_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _kernel(mod, values, params=(), dtype=np.float64):
    args = [np.ascontiguousarray(values[k], dtype=dtype) for k in mod.INPUTS]
    return dict(zip(mod.OUTPUTS, mod.kernel(*args, *params, min(2, args[0].shape[0]), mod.BLOCK)))


def test_checked_in_kernels_match_their_chains():
    res = run("codegen", "--check", "--json")
    assert res.exit_code == 0, res.output
    shipped = sorted(p.stem for p in (ROOT / "numeric" / "generated").glob("*.py") if p.stem != "__init__")
    assert sorted(codegen_targets()) == shipped
    assert json.loads(res.stdout) == {"stale": [], "checked": len(shipped)}


@pytest.mark.parametrize("scale", list(SCALES))
def test_generated_kernel_equals_sympy_exactly_at_small_sizes(scale):
    """The one kernel (scale a parameter) at rational inputs vs each scale's chain evaluated exactly by SymPy."""
    mod = load(ALMAN_SONG_MODULE)
    assert mod.PARAMETERS == ("s",)
    m = alman_song(scale)
    for n, d in [(1, 1), (2, 1), (3, 2)]:
        rng = np.random.default_rng(n * 10 + d)
        vals = {k: rng.integers(-4, 5, size=s) / 4 for k, s in zip(NAMES, [(n, d)] * 4 + [(d, d)] * 2)}
        got = _kernel(mod, vals, (float(SCALES[scale].subs(ex.d, d)),))
        field = ExactField()
        ev = Evaluator(field, {k: np.vectorize(sp.Rational, otypes=[object])(v) for k, v in vals.items()},
                       {ex.n: n, ex.d: d})
        back = {w: sp.exp(g) for w, (kind, g) in field.opaque.items()}
        for chain_name, out in (("L", "loss"), ("∇X", "grad_X"), ("∇Y", "grad_Y")):
            exact = np.vectorize(lambda e: float(sp.N(e.xreplace(back), 30)), otypes=[float])(ev(m[chain_name]))
            np.testing.assert_allclose(got[out], exact, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generated_kernels_match_reference_and_finite_differences(dtype):
    for scale in [*SCALES, 0.37]:
        x = random_inputs(150, 6, seed=3, dtype=dtype)
        gen = loss_and_grad(**x, scale=scale, method="generated")
        ref = loss_and_grad(**x, scale=scale, method="reference", dtype=np.float64)
        tol = 1e-12 if dtype == np.float64 else 1e-6
        assert gen.grad_X.dtype == dtype
        assert abs(gen.loss - ref.loss) <= tol * abs(ref.loss)
        for g, r in ((gen.grad_X, ref.grad_X), (gen.grad_Y, ref.grad_Y)):
            assert np.abs(g - r).max() <= tol * np.abs(r).max()
    x = random_inputs(40, 3, seed=5)
    res = check_grad(lambda X: loss_and_grad(**{**x, "X": X}).loss,
                     lambda X: loss_and_grad(**{**x, "X": X}).grad_X, x["X"], name="X")
    assert res.ok, str(res)


@pytest.mark.heavy
def test_user_chains_generate_kernels_that_match_their_chains(tmp_path):
    """Causal-mask and sigmoid chains from a --file: kernel vs float evaluation of the chain vs FD."""
    res = run("codegen", "--file", str(EXAMPLE), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    models = {m.name: m for m in defined(import_user_file(EXAMPLE), Model)}
    for name in ("causal", "sigmoid"):
        mod = _import(tmp_path / f"{name}.py")
        m = models[name]
        for n, d in [(1, 2), (7, 3), (70, 4)]:
            rng = np.random.default_rng(n)
            sizes = {ex.n: n, ex.d: d}
            vals = {k: rng.standard_normal((int(mm.shape[0].subs(sizes)), int(mm.shape[1].subs(sizes))))
                    for k, mm in m.inputs().items()}
            got = _kernel(mod, vals)
            ev = Evaluator(FloatField(), vals, {ex.n: n, ex.d: d})
            for chain_name, out in m.kernel_outputs().items():
                want = ev(m[chain_name])
                assert np.abs(got[out] - want).max() <= 1e-12 * max(1.0, np.abs(want).max()), (name, chain_name)
            # and the kernel's ∇X is the gradient of the kernel's loss (finite differences)
            if n > 1:
                def loss(Xv):
                    return float(_kernel(mod, {**vals, "X": Xv})["loss"][0, 0])
                assert check_grad(loss, got["grad_X"], vals["X"], name="X").ok


def test_causal_kernel_is_stable_for_large_scores(tmp_path):
    run("codegen", "--file", str(EXAMPLE), "--out", str(tmp_path))
    mod = _import(tmp_path / "causal.py")
    rng = np.random.default_rng(0)
    n, d = 30, 3
    vals = {k: 25 * rng.standard_normal((n, d) if k not in "XY" else (d, d)) for k in ("A1", "A2", "A3", "E", "X", "Y")}
    got = _kernel(mod, vals)
    assert all(np.isfinite(v).all() for v in got.values())
    # the same chain in long double with the max subtracted by hand
    S = (vals["A1"].astype(np.longdouble) @ vals["X"] @ vals["A2"].T) / d
    S = np.where(np.tril(np.ones((n, n), bool)), S, -np.inf)
    f = np.exp(S - S.max(1, keepdims=True))
    f /= f.sum(1, keepdims=True)
    c = f @ (vals["A3"] @ vals["Y"]) - vals["E"]
    assert abs(got["loss"][0, 0] - float(0.5 * (c * c).sum())) <= 1e-9 * float(0.5 * (c * c).sum())


def test_changing_a_chain_makes_check_fail_and_names_the_file(tmp_path):
    src = tmp_path / "models.py"
    src.write_text(EXAMPLE.read_text())
    out = tmp_path / "kernels"
    assert run("codegen", "--file", str(src), "--out", str(out)).exit_code == 0
    assert run("codegen", "--check", "--file", str(src), "--out", str(out)).exit_code == 0
    src.write_text(EXAMPLE.read_text().replace('(A1 @ X @ A2.T) / d)\nu = ', '(A1 @ X @ A2.T) / (2 * d))\nu = '))
    res = run("codegen", "--check", "--file", str(src), "--out", str(out))
    assert res.exit_code == 1
    assert "causal.py" in res.output and "sigmoid.py" not in res.output
    # the same through the API, on a copy of a built-in chain with one step changed
    m = alman_song("1/d")
    changed = Model(m.name, m.description, m.variables, dict(m.chain), m.loss, m.input_order)
    changed.chain["∇Y"] = ex.Named("∇Y", 2 * m["∇Y"].expr)
    cg.write({"k": m}, tmp_path / "api")
    assert cg.stale({"k": m}, tmp_path / "api") == []
    assert cg.stale({"k": changed}, tmp_path / "api") == [tmp_path / "api" / "k.py"]


def test_codegen_bad_input_exits_2_and_writes_nothing(tmp_path):
    res = run("codegen", "--file", str(EXAMPLE))
    assert res.exit_code == 2 and "--file needs --out" in res.output
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = run("codegen", "--file", str(EXAMPLE), "--out", str(blocker / "sub"))
    assert res.exit_code == 2 and "Cannot write the generated kernels" in res.output
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from attngrad.derive import Matrix, Model, Vec, n, d, half_sq_norm\n"
        "A = Matrix('A', n, d)\n"
        "m = Model('vecmodel')\n"
        "m.loss = m.define('L', half_sq_norm(Vec(A)))\n"
    )
    out = tmp_path / "never"
    res = run("codegen", "--file", str(bad), "--out", str(out))
    assert res.exit_code == 2 and "cannot stream by rows" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_threads_setting_is_used_and_restored():
    x = random_inputs(64, 4, seed=1)
    before = numba.get_num_threads()
    one = loss_and_grad(**x, threads=1)
    two = loss_and_grad(**x, threads=2)
    assert numba.get_num_threads() == before
    assert np.abs(one.grad_X - two.grad_X).max() <= 1e-12 * np.abs(one.grad_X).max()


def _batch_model(squared: bool) -> Model:
    """A toy chain over one sample X (n×d) with a shared W: L = Σ(XW)∘(XW) or (Σ XW)², and its gradient."""
    X, W = ex.Matrix("X_0", ex.n, ex.d), ex.Matrix("W", ex.d, ex.d)
    m = Model("toy-squared" if squared else "toy", variables=("W",), input_order=("X_0", "W"))
    Z = m.define("Z", X @ W)
    if squared:  # the square of a sum over the sample's rows is not a sum over samples of anything shared
        t = m.define("t", ex.Total(Z))
        m.loss = m.define("L", t * t)
        m.define("∇W", X.T @ ex.Fill(1, ex.n, ex.d) * (2 * t))
    else:
        m.loss = m.define("L", ex.Total(Z * Z))
        m.define("∇W", 2 * (X.T @ Z))
    m.batch_inputs = ("X_0",)
    return m


@pytest.mark.parametrize("squared", [False, True])
def test_batch_mean_equals_the_mean_of_single_samples_and_falls_back_when_it_must(tmp_path, squared):
    m = _batch_model(squared)
    src = cg.render(m)
    assert ("in one pass over the batch" in src) is (not squared)
    path = tmp_path / f"toy_{squared}.py"
    path.write_text(src)
    mod = _import(path)
    rng = np.random.default_rng(5)
    X, W = rng.standard_normal((3, 4, 2)), rng.standard_normal((2, 2))
    singles = [mod.kernel_serial(X[i], W, 1, mod.BLOCK) for i in range(3)]
    mean = mod.batch_serial(X, W, mod.BLOCK)
    for k in range(2):
        np.testing.assert_allclose(mean[k], sum(s[k] for s in singles) / 3, rtol=1e-13)
    # and against NumPy directly
    per = [(x @ W).sum() ** 2 if squared else ((x @ W) ** 2).sum() for x in X]
    assert mean[0][0, 0] == pytest.approx(np.mean(per), rel=1e-13)


def test_dispatch_walks_the_node_type_mro_like_sympy():
    class Toy(cg.Printer):
        target = "toy"

        def _f_Unary(self, node):
            return "unary"

        def _f_Exp(self, node):
            return "exp"

    A = ex.Matrix("A", ex.n, ex.d)
    assert Toy().dispatch("f", ex.Exp(A)) == "exp"
    assert Toy().dispatch("f", ex.Log(A)) == "unary"  # no _f_Log: its base class Unary's method
    with pytest.raises(cg.CodegenError, match="^Matrix is not supported by the toy printer.$"):
        Toy().dispatch("f", A)


def test_an_unsupported_node_names_its_type_and_the_printer():
    A = ex.Matrix("A", ex.n, ex.d)
    m = Model("facesplit")
    m.loss = m.define("L", ex.Total(ex.FaceSplit(A, A)))
    with pytest.raises(cg.CodegenError, match="^FaceSplit is not supported by the kernel printer.$"):
        cg.render(m)
    assert issubclass(cg.CodegenError, InputError)
