"""GD on one attention layer: the generated kernels against NumPy written from docs/mathematics.md §3, the Jacobian and the
simulation against finite differences and an independent GD loop, the PL bounds on random instances."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.errors import InputError
from attngrad.numeric import check_grad
from attngrad.numeric.one_layer import (KERNELS, WEIGHTS, Sizes, as_instance, jacobian, loss_and_grads,
                                        make_instance)
from attngrad.numeric.simulate import Settings, rows, simulate

TINY = Sizes(N=2, n=3, D=4, d=2, dv=2, dy=2)


def numpy_outputs(kernel, X, W):
    """F_i = S_i V_i W_O for every sample, typed from docs/mathematics.md §3 (independent of the chains)."""
    d = W["W_Q"].shape[1]
    Q, K, V = X @ W["W_Q"], X @ W["W_K"], X @ W["W_V"]
    if kernel == "softmax":
        s = Q @ K.transpose(0, 2, 1) / np.sqrt(d)
    else:
        s = -((Q[:, :, None, :] - K[:, None, :, :]) ** 2).sum(-1) / (2 * np.sqrt(d))
    if kernel == "gaussian":
        S = np.exp(s)
    else:
        S = np.exp(s - s.max(-1, keepdims=True))
        S /= S.sum(-1, keepdims=True)
    return S @ V @ W["W_O"]


def numpy_loss(kernel, X, Y, W):
    return 0.5 * np.sum((numpy_outputs(kernel, X, W) - Y) ** 2) / X.shape[0]


MODES = [("W_Q",), ("W_V",), ("W_Q", "W_K", "W_V"), WEIGHTS, ("W_K", "W_O")]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("train", MODES, ids=lambda t: ",".join(t))
def test_generated_gradients_match_numpy_finite_differences(kernel, train):
    """Every kernel and mode (its own generated module, or the all-weights one with the rest left alone)."""
    inst = make_instance(TINY, seed=3, embedding="gaussian", tie_qk=False, scales={"W_Q": 0.8, "W_K": 0.8})
    res = loss_and_grads(kernel, inst.X, inst.Y, inst.weights, train)
    assert res.loss == pytest.approx(numpy_loss(kernel, inst.X, inst.Y, inst.weights), rel=1e-13)
    assert set(res.grads) == set(train)
    for w in train:
        fn = lambda v, w=w: numpy_loss(kernel, inst.X, inst.Y, {**inst.weights, w: v})  # noqa: E731
        check = check_grad(fn, res.grads[w], inst.weights[w], name=w)
        assert check.ok, str(check)


@pytest.mark.parametrize("kernel", KERNELS)
def test_jacobian_matches_finite_differences_of_numpy_outputs(kernel):
    inst = make_instance(TINY, seed=1, embedding="gaussian", targets="outside-hull", tie_qk=False)
    train = ("W_Q", "W_V")
    J = jacobian(kernel, inst, train)
    x0 = np.concatenate([inst.weights[w].ravel() for w in train])
    sizes = [inst.weights[w].size for w in train]

    def F(x):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        W = dict(inst.weights, **{w: p.reshape(inst.weights[w].shape) for w, p in zip(train, parts)})
        return numpy_outputs(kernel, inst.X, W).ravel()

    h = 1e-6
    fd = np.stack([(F(x0 + h * e) - F(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)], axis=1)
    assert J.shape == (TINY.N * TINY.n * TINY.dy, x0.size)
    assert np.abs(J - fd).max() < 1e-8 * max(1.0, np.abs(fd).max())


@pytest.mark.parametrize("kernel,train", [("softmax", ("W_Q", "W_K", "W_V")), ("gaussian", ("W_V",)),
                                          ("gaussian-normalised", ("W_K", "W_O"))])
def test_simulation_follows_an_independent_numpy_gd_loop(kernel, train):
    """The loss sequence of a run equals GD with gradients by central differences of NumPy's loss."""
    settings = Settings(sizes=TINY, steps=12, eta=0.05, tol=0.0, lambda_every=5, embedding="gaussian")
    run = simulate([kernel], [train], [4], settings)[0]
    inst = settings.instance(4)
    W = {k: v.copy() for k, v in inst.weights.items()}
    expected = []
    for _ in range(settings.steps):
        expected.append(numpy_loss(kernel, inst.X, inst.Y, W))
        grads = {}
        for w in train:
            grads[w] = np.zeros_like(W[w])
            for idx in np.ndindex(W[w].shape):
                up, down = {**W, w: W[w].copy()}, {**W, w: W[w].copy()}
                up[w][idx] += 1e-6
                down[w][idx] -= 1e-6
                grads[w][idx] = (numpy_loss(kernel, inst.X, inst.Y, up) - numpy_loss(kernel, inst.X, inst.Y, down)) / 2e-6
        W = {k: v - settings.eta * grads[k] if k in grads else v for k, v in W.items()}
    assert run.status == "finished" and run.last == settings.steps - 1
    np.testing.assert_allclose(run.losses, expected, rtol=1e-8)


@pytest.mark.parametrize("kernel", ["softmax", "gaussian", "gaussian-normalised"])
@pytest.mark.parametrize("seed", [0, 5])
def test_pl_inequality_holds_at_every_step(kernel, seed):
    """½‖∇f‖² ≥ (λ_min(JJᵀ)/N)·f with λ_min from the exact Jacobian at every step, on random instances."""
    sizes = Sizes(N=2, n=3, D=8, d=2, dv=2, dy=1)
    settings = Settings(sizes=sizes, steps=30, lambda_every=1, embedding="gaussian", tie_qk=False)
    run = simulate([kernel], [("W_Q", "W_K")], [seed], settings)[0]
    checks = run.pl_checks()
    assert len(checks) == run.last + 1 >= 10
    for c in checks:  # λ_min > 0 here, so the bound is not trivially 0
        assert c["mu"] > 0 and c["half_grad_sq"] >= c["mu_f"] * (1 - 1e-9), c
    start = settings.instance(seed)
    g = loss_and_grads(kernel, start.X, start.Y, start.weights, ("W_Q", "W_K"))
    assert 0.5 * sum(np.sum(x * x) for x in g.grads.values()) == pytest.approx(checks[0]["half_grad_sq"], rel=1e-10)
    assert checks[0]["mu_f"] == pytest.approx(checks[0]["mu"] * g.loss, rel=1e-12)


def test_wv_bound_holds_at_every_step_and_the_closed_forms_match_the_jacobian():
    """W_V alone, D ≥ Nn: μ and L in closed form (derived by SymPy) equal λ_min, λ_max of the Jacobian's JJᵀ over
    N; with η = 1/L every step decreases f by at least the factor 1 − ημ, and the predicted step count is an upper
    bound."""
    from attngrad.derive.papers.pl_bounds import linear_rate, pl_wv
    from attngrad.numeric.one_layer import attended_inputs

    sizes = Sizes(N=2, n=3, D=8, d=4, dv=3, dy=2)
    settings = Settings(sizes=sizes, steps=3000, tol=1e-12, scales=(("W_Q", 2.0), ("W_K", 2.0)))
    for kernel in ("softmax", "gaussian"):
        inst = settings.instance(2)
        F = attended_inputs(kernel, inst)
        sF = np.linalg.svd(F, compute_uv=False)
        sO = np.linalg.svd(inst.weights["W_O"], compute_uv=False)
        mu = pl_wv().function("mu")(sigma_min_F=sF[-1], sigma_min_O=sO[-1], N=sizes.N)
        L = pl_wv().function("L")(sigma_max_F=sF[0], sigma_max_O=sO[0], N=sizes.N)
        ev = np.linalg.eigvalsh((lambda J: J @ J.T)(jacobian(kernel, inst, ("W_V",))))
        assert mu == pytest.approx(ev[0] / sizes.N, rel=1e-8) and L == pytest.approx(ev[-1] / sizes.N, rel=1e-10)
        run = simulate([kernel], [("W_V",)], [2], settings)[0]
        assert run.eta == pytest.approx(1 / L, rel=1e-10)
        f = run.losses[: run.last + 1]
        assert np.all(f[1:] <= (1 - run.eta * mu) * f[:-1] * (1 + 1e-9))
        T = linear_rate().function("steps")(eta=run.eta, mu=mu, f_0=f[0], epsilon=1e-10)
        if T <= settings.steps:  # the bound promises ε within the run: it must be reached
            assert run.status == "converged" and run.steps_to(1e-10) <= T
        else:
            assert f[-1] <= f[0] * (1 - run.eta * mu) ** run.last * (1 + 1e-9)


def test_softmax_equal_keys_is_stationary_and_gaussian_is_not():
    inst = make_instance(TINY, seed=0, embedding="gaussian", tie_qk=False)
    flat = dict(inst.weights, W_K=np.zeros_like(inst.weights["W_K"]))
    soft = loss_and_grads("softmax", inst.X, inst.Y, flat, ("W_Q",))
    gauss = loss_and_grads("gaussian", inst.X, inst.Y, flat, ("W_Q",))
    assert np.abs(soft.grads["W_Q"]).max() < 1e-14 and soft.loss > 0.1
    assert soft.loss == pytest.approx(numpy_loss("softmax", inst.X, inst.Y, flat), rel=1e-13)
    fd = check_grad(lambda v: numpy_loss("gaussian", inst.X, inst.Y, dict(flat, W_Q=v)), gauss.grads["W_Q"],
                    flat["W_Q"], name="W_Q")
    assert fd.ok and np.abs(gauss.grads["W_Q"]).max() > 1e-3


def test_outside_hull_targets_are_outside_the_softmax_hull():
    inst = make_instance(TINY, seed=2, targets="outside-hull", embedding="gaussian")
    VO = inst.X @ inst.weights["W_V"] @ inst.weights["W_O"]
    for i in range(TINY.N):
        for k in range(TINY.n):
            y = inst.Y[i, k]
            # a separating direction: the target's offset from the hull's centre beats every vertex along u
            centre = VO[i].mean(0)
            u = (y - centre) / np.linalg.norm(y - centre)
            assert y @ u > (VO[i] @ u).max() + 1e-9


def test_orthogonal_embeddings_have_orthonormal_rows():
    inst = make_instance(Sizes(N=2, n=3, D=8, d=2, dv=2, dy=1), seed=0)
    Xs = inst.X.reshape(6, 8)
    np.testing.assert_allclose(Xs @ Xs.T, np.eye(6), atol=1e-12)
    small = make_instance(Sizes(N=2, n=3, D=4, d=2, dv=2, dy=1), seed=0)
    assert small.notes and "D ≥ Nn" in small.notes[0]


def test_divergence_is_reported_with_its_step_and_rows_are_kept():
    settings = Settings(sizes=TINY, steps=200, eta=1e4, embedding="gaussian")
    run = simulate(["gaussian"], [("W_V",)], [0], settings)[0]
    assert run.status == "diverged" and 0 < run.last < 200
    assert any(f"diverged at step {run.last}" in n for n in run.notes)
    kept = rows([run])
    assert len(kept) == run.last + 1 and kept[-1]["step"] == run.last
    assert math.isfinite(kept[0]["loss"])


@pytest.mark.parametrize("call,msg", [
    (lambda: as_instance(np.zeros((2, 3, 4)), np.zeros((2, 4, 1)), {}), "same samples and tokens"),
    (lambda: as_instance(np.zeros((2, 3, 4)), np.zeros((2, 3, 1)),
                         {"W_Q": np.zeros((4, 2)), "W_K": np.zeros((4, 3)), "W_V": np.zeros((4, 2)),
                          "W_O": np.zeros((2, 1))}), "W_K has shape (4, 3) but must be (4, 2)"),
    (lambda: as_instance(np.full((1, 1, 1), np.nan), np.zeros((1, 1, 1)), {}), "NaN or Inf"),
    (lambda: loss_and_grads("cosine", np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), {}), "Unknown kernel 'cosine'"),
    (lambda: simulate(["softmax"], [("W_X",)], [0]), "Unknown training mode 'W_X'"),
    (lambda: Settings(eta=-1.0), "step size must be a positive finite number"),
    (lambda: Settings(eta=0.0), "step size must be a positive finite number"),
    (lambda: simulate(["softmax"], [("W_Q",)], [-1]), "Seeds must be non-negative"),
])
def test_bad_input_is_one_sentence(call, msg):
    with pytest.raises(InputError, match=msg.replace("(", r"\(").replace(")", r"\)")) as err:
        call()
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def test_simulate_cli_json_csv_and_story(tmp_path):
    res = run_cli("simulate", "--kernel", "softmax", "--kernel", "gaussian", "--train", "W_V", "--train", "W_Q",
                  "--seeds", "0-1", "--steps", "60", "--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2",
                  "--dy", "1", "--lambda-every", "20", "--out", str(tmp_path / "run"), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["runs"]) == 8 and set(out["story"]) == {"W_V", "W_Q"}
    for r in out["runs"]:
        assert r["pl_holds"] == r["pl_checks"] >= 1 and r["f0"] > 0 and r["eta"] > 0
        if r["train"] == "W_V":
            assert r["rate"]["exact"] and r["rate"]["held"] == r["rate"]["checked"] == r["steps"] - 1
    lines = (tmp_path / "run.csv").read_text().splitlines()
    assert lines[0].startswith("kernel,train,seed,step,loss,grad_norm,pl_ratio,lambda_min")
    assert len(lines) - 1 == sum(r["steps"] for r in out["runs"])
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["story"] == out["story"] and saved["settings"]["steps"] == 60


@pytest.mark.parametrize("args,msg", [
    (["simulate", "--kernel", "cosine"], "Invalid value for '--kernel'"),
    (["simulate", "--train", "W_Z"], "Unknown training mode 'W_Z'"),
    (["simulate", "--eta", "-0.5", "--steps", "2"], "step size must be a positive finite number"),
    (["simulate", "nonsense"], "Unknown experiment 'nonsense'"),
    (["simulate", "--seeds", "a-b"], "--seeds must look like"),
    (["simulate", "--D", "0"], "The size D must be a positive integer"),
    (["simulate", "--data", "/nonexistent.npz"], "There is no file /nonexistent.npz."),
    (["bounds", "pl/none"], "Unknown bound 'pl/none'"),
    (["landscape", "--points", "2", "--steps", "2"], "from 3 to 401 points"),
])
def test_cli_bad_input_exits_2(args, msg):
    res = run_cli(*args)
    assert res.exit_code == 2, res.output
    assert msg in res.output and "Traceback" not in res.output


def test_simulate_cli_reads_a_users_data_and_rejects_inconsistent_shapes(tmp_path):
    good = tmp_path / "good.npz"
    rng = np.random.default_rng(0)
    np.savez(good, X=rng.standard_normal((2, 3, 5)), Y=rng.standard_normal((2, 3, 1)),
             W_O=rng.standard_normal((2, 1)))
    res = run_cli("simulate", "--data", str(good), "--kernel", "softmax", "--train", "W_V", "--seeds", "0",
                  "--steps", "5", "--d", "2", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["settings"]["data"] == {"from file": True, "N": 2, "n": 3, "D": 5, "dy": 1, "dv": 2}
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.zeros((2, 3, 5)), Y=np.zeros((2, 4, 1)))
    res = run_cli("simulate", "--data", str(bad), "--steps", "2")
    assert res.exit_code == 2 and "same N and n" in res.output
    res = run_cli("simulate", "--data", str(good), "--D", "7", "--steps", "2")
    assert res.exit_code == 2 and "--D 7 does not match the data" in res.output


def test_bounds_cli_verifies_every_derivation_and_the_numbers_hold():
    res = run_cli("bounds", "--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2", "--dy", "1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ok"] is True and [b["id"] for b in out["bounds"]] == [
        "pl/any-subset", "pl/W_V", "rate/linear", "softmax/equal-keys", "certificate/pl-ball", "lowrank/taylor-shifted",
        "lowrank/taylor", "lowrank/chebyshev", "lowrank/rank", "lowrank/softmax-error", "lowrank/gradient-error"]
    for b in out["bounds"]:
        assert b["verified"] and b["latex"] and any(s["verified"] for s in b["steps"])
        assert all(r.get("holds") is not False for r in b["numbers"])
    wv = {r["quantity"]: r for r in out["bounds"][1]["numbers"]}
    mu = wv["μ: λ_min(JJᵀ)/N vs σ_min(F)²σ_min(W_O)²/N"]
    assert mu["holds"] and mu["numerical"] == pytest.approx(mu["theoretical"], rel=1e-6)


def test_landscape_cli_counts_minima_of_a_computed_grid(tmp_path):
    res = run_cli("landscape", "--kernel", "softmax", "--train", "W_Q", "--steps", "30", "--points", "7",
                  "--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2", "--dy", "1", "--out",
                  str(tmp_path / "ls"), "--json")
    assert res.exit_code == 0, res.output
    sl = json.loads(res.stdout)["slices"][0]
    grid = np.array(sl["losses"])
    assert grid.shape == (7, 7)
    assert grid[3, 3] == pytest.approx(sl["centre_loss"], rel=1e-12)  # α = β = 0 is the trained point
    # a strict local minimum by brute force over the interior
    count = sum(all(grid[a, b] < grid[a + i, b + j] for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j)
                for a in range(1, 6) for b in range(1, 6))
    assert sl["local_minima"] == count
    assert len((tmp_path / "ls-softmax.csv").read_text().splitlines()) == 1 + 49
