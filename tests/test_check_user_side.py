"""The user's side of `attngrad check` (issue 12): a claim that cannot be built gets the verdict `error` with its
reason and the line that defined it while the other claims run; the footer counts every verdict; the method column
names the tiers that decided; a refutation shows its counterexample whichever tier found it, and -v each tier's
steps; size symbols beyond n and d, trace, a vector softmax, and the refusal of non-smooth functions."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from attngrad.cli.check import show_verdicts
from attngrad.cli.main import main
from attngrad.derive import (
    Claim, Fill, Matrix, Total, TierResult, Verdict, check_claim, d, maximum, n, relu, size, softmax, trace,
)
from attngrad.derive.check import check_all, points
from attngrad.derive.check.runner import _run_task, claims_of
from attngrad.derive.evaluate import FloatField, evaluate
from attngrad.errors import InputError

FAST = dict(float_sizes=points((12, 3)), mp_sizes=points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2)),
            exact_sizes=points((1, 1), (2, 1)))
CLI_FAST = ["--exact-sizes", "1x1,2x1", "--jobs", "1"]
MIXED_ARGS = ["--no-exact", "--jobs", "1"]

GOOD_AND_BAD = '''\
from attngrad.derive import Claim, Matrix, d, n, trace

A, B = Matrix("A", n, d), Matrix("B", d, n)
good = Claim("user/trace-cyclic", "tr(AB) = tr(BA)", trace(A @ B), trace(B @ A), source="mine")

bad = Claim("user/bad-shapes", "a builder whose product does not fit",
            lambda c: A @ A, A, source="mine")
'''

#: one claim of each verdict among the project's claims, and printed claims that hold and are refuted (checked
#: with --no-exact: the exact tier would refute user/almost at a rational point)
MIXED = '''\
from attngrad.derive import Claim, Matrix, d, n, trace

A, B = Matrix("A", n, d), Matrix("B", d, n)
C = Matrix("C", n, d)
claims = [
    Claim("user/trace-cyclic", "tr(AB) = tr(BA)", trace(A @ B), trace(B @ A)),
    Claim("user/trace-slip", "tr(AB) = 2 tr(BA)", trace(A @ B), 2 * trace(B @ A)),
    # false by 10⁻¹⁵ relative: beyond the 50-digit tolerance, short of its refutation margin, within float64's
    Claim("user/almost", "C = (1 + 10⁻¹⁵)C", C, C + C / 10**15),
    Claim("user/no-build", "builder raises", lambda c: A @ A, A),
    Claim("paper/trace-cyclic", "tr(AB) = tr(BA), as printed", trace(A @ B), trace(B @ A), printed=True),
    Claim("paper/trace-slip", "tr(AB) = 2 tr(AB), as printed", trace(A @ B), 2 * trace(A @ B), printed=True),
]
'''

#: zero at every size the 50-digit and exact tiers use (n ≤ 5), not at the float64 tier's n = 12
LATE = '''\
from attngrad.derive import Claim, Fill, Matrix, Scale, Total, d, n

A = Matrix("A", n, d)
late = Claim("user/zero-up-to-5", "(n−1)(n−2)(n−3)(n−4)(n−5)·ΣA = 0",
             Scale((n - 1) * (n - 2) * (n - 3) * (n - 4) * (n - 5), Total(A)), Fill(0, 1, 1))
'''


def run(*args):
    return CliRunner().invoke(main, list(args))


def write(tmp_path: Path, text: str, name: str = "claims.py") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def line_of(path: Path, start: str) -> int:
    """The 1-based line of ``path`` that starts with ``start``."""
    return next(k for k, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ln.startswith(start))


def table_rows(output: str) -> dict[str, list[str]]:
    """The verdict table: id → its cells (columns two or more spaces apart)."""
    lines = output.splitlines()
    rule = next(k for k, ln in enumerate(lines) if ln.startswith("---"))
    rows = {}
    for ln in lines[rule + 1:]:
        if not ln.strip():
            break
        cells = re.split(r"\s{2,}", ln.strip())
        rows[cells[0]] = cells
    return rows


FOOTER = re.compile(r"project claims: (\d+) hold, (\d+) refuted, (\d+) inconclusive, (\d+) errors?; "
                    r"printed claims: (\d+) hold, (\d+) refuted, (\d+) inconclusive, (\d+) errors?; [\d.]+s\.")


# 1. a claim that cannot be built ------------------------------------------------------------------------------------
def test_a_claim_that_cannot_be_built_is_an_error_and_the_others_run(tmp_path):
    p = write(tmp_path, GOOD_AND_BAD)
    res = run("check", "--file", str(p), *CLI_FAST)
    assert res.exit_code == 1, res.output  # a project claim with the verdict error fails the run
    rows = table_rows(res.output)
    assert rows["user/trace-cyclic"][2] == "holds"
    assert rows["user/bad-shapes"][2] == "error"
    where = f"{p}:{line_of(p, 'bad = Claim(')}"
    block = res.output[res.output.index("user/bad-shapes: error"):]
    assert f"  defined at: {where}\n" in block
    assert "  error: Claim user/bad-shapes could not be built at n=1, d=1: matmul: shapes (n, d) and (n, d) do not " \
           "match." in block
    assert "Traceback" not in res.output


def test_error_verdicts_in_json_and_in_worker_processes(tmp_path):
    p = write(tmp_path, GOOD_AND_BAD)
    res = run("check", "--file", str(p), "--json", *CLI_FAST)
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    by_id = {c["id"]: c for c in out["claims"]}
    bad = by_id["user/bad-shapes"]
    assert bad["verdict"] == "error" and "could not be built" in bad["reason"]
    assert bad["defined_at"] == f"{p}:{line_of(p, 'bad = Claim(')}"
    assert by_id["user/trace-cyclic"]["verdict"] == "holds" and by_id["user/trace-cyclic"]["reason"] is None
    assert out["ok"] is False
    # the worker's path: the claims rebuilt from the file, each checked, the bad one an error verdict
    source = str(p)
    claims = claims_of(source, reload=True)
    done = dict(_run_task(source, [c.id for c in claims], list(range(len(claims))), FAST))
    assert [done[i].verdict for i in range(len(claims))] == ["holds", "error"]
    assert done[1].reason == bad["reason"] and done[1].defined_at == bad["defined_at"]
    # and check_all in worker processes gives the same verdicts as in this one
    assert [v.verdict for v in check_all(claims, source, jobs=2, **FAST)] == ["holds", "error"]


def test_errors_of_the_whole_run_still_exit_2_with_one_sentence(tmp_path):
    broken = write(tmp_path, "from attngrad.derive import Matrix, n, d\n\nA = Matrix('A', n, d)\nB = A @ foo\n",
                   "broken.py")
    res = run("check", "--file", str(broken))
    assert res.exit_code == 2
    assert f"The file {broken} could not be imported (line {line_of(broken, 'B = ')}): NameError: name 'foo' is not " \
           "defined" in res.output
    # the line is the last frame in the user's file, inside a function it defines
    deep = write(tmp_path, "def make():\n    x = 1\n    return 1 / (x - 1)\n\n\nmake()\n", "deep.py")
    res = run("check", "--file", str(deep))
    assert res.exit_code == 2 and f"could not be imported (line {line_of(deep, '    return')}): ZeroDivisionError" \
        in res.output
    twice = write(tmp_path, GOOD_AND_BAD.replace('"user/bad-shapes"', '"user/trace-cyclic"'), "twice.py")
    res = run("check", "--file", str(twice))
    assert res.exit_code == 2 and "have the id 'user/trace-cyclic'" in res.output


@pytest.mark.parametrize("text", ["x = foo\n", "def f(:\n    pass\n", "import not_a_module_anywhere\n"])
def test_a_file_that_does_not_import_is_one_sentence_with_its_line(tmp_path, text):
    p = write(tmp_path, "import math\n\n" + text, "bad.py")
    res = run("check", "--file", str(p))
    assert res.exit_code == 2 and "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: The file {p} could not be imported (line 3): ")


# 2. the footer ------------------------------------------------------------------------------------------------------
def test_footer_counts_each_verdict_as_the_json_has_it(tmp_path):
    p = write(tmp_path, MIXED)
    text = run("check", "--file", str(p), *MIXED_ARGS)
    as_json = run("check", "--file", str(p), "--json", *MIXED_ARGS)
    assert text.exit_code == as_json.exit_code == 1
    claims = json.loads(as_json.stdout)["claims"]
    counted = Counter((c["printed"], c["verdict"]) for c in claims)
    want = [counted[(False, v)] for v in ("holds", "refuted", "inconclusive", "error")] + \
        [counted[(True, v)] for v in ("holds", "refuted", "inconclusive", "error")]
    assert want[:4] == [1, 1, 1, 1] and want[4:6] == [1, 1]  # every kind present, so the counts are told apart
    m = FOOTER.search(text.output)
    assert m, text.output
    assert [int(x) for x in m.groups()] == want
    assert json.loads(as_json.stdout)["counts"]["project"] == dict(zip(("holds", "refuted", "inconclusive", "error"),
                                                                        want[:4]))
    # the table agrees with the JSON claim by claim
    rows = table_rows(text.output)
    assert {c["id"]: c["verdict"] for c in claims} == {k: r[2] for k, r in rows.items()}


# 3. the method column -----------------------------------------------------------------------------------------------
def test_method_of_a_refuted_claim_lists_only_the_refuting_tiers(tmp_path):
    """mpmath-50 and exact hold at n ≤ 5, float64 refutes at n = 12: the method is float64 alone."""
    p = write(tmp_path, LATE)
    res = run("check", "--file", str(p), "--json", *CLI_FAST)
    v = json.loads(res.stdout)["claims"][0]
    outcomes = {t["tier"]: t["outcome"] for t in v["tiers"]}
    assert v["verdict"] == "refuted" and outcomes["mpmath-50"] == "holds" and outcomes["float64"] == "refuted"
    refuting = [t["tier"] for t in v["tiers"] if t["outcome"] == "refuted"]
    assert v["method"] == " + ".join(refuting) == "float64"
    res = run("check", "--file", str(p), *CLI_FAST)
    assert table_rows(res.output)["user/zero-up-to-5"][3] == "float64"
    # the refutation prints the float64 tier's counterexample, every key of it the JSON has
    ce = v["counterexample"]
    assert ce and ce["n"] == 24  # the float64 tier's first size; at n ≤ 5 the claim is true
    ce_line = next(ln for ln in res.output.splitlines() if ln.startswith("  counterexample (float64): "))
    for key in set(ce) - {"values", "inputs", "tier"}:
        assert f"{key}=" in ce_line, (key, ce_line)


def test_method_of_holds_and_inconclusive(tmp_path):
    p = write(tmp_path, MIXED)
    claims = {c["id"]: c for c in json.loads(run("check", "--file", str(p), "--json", *MIXED_ARGS).stdout)["claims"]}
    good = claims["user/trace-cyclic"]
    assert good["method"] == " + ".join(t["tier"] for t in good["tiers"] if t["outcome"] == "holds")
    assert "mpmath-50" in good["method"] and "float64" in good["method"] and "exact" not in good["method"]
    # 10⁻¹⁵ apart: the 50-digit tier can neither pass nor refute it, float64 passes it
    inc = claims["user/almost"]
    said = [f"{t['tier']} {t['outcome']}" for t in inc["tiers"] if t["outcome"] in ("holds", "refuted", "undecided")]
    assert inc["verdict"] == "inconclusive" and "mpmath-50 undecided" in said and "float64 holds" in said
    assert inc["method"] == "disagree: " + ", ".join(said)
    rel = next(t["max_rel_err"] for t in inc["tiers"] if t["tier"] == "mpmath-50")
    assert 1e-16 < rel < 1e-14
    assert claims["user/no-build"]["method"] == ""
    tiers = [TierResult("mpmath-50", "undecided", "m"), TierResult("exact", "not decided", "m")]
    assert Verdict("x", "s", False, "t", "inconclusive", tiers).method == "none decided"


# 4. counterexamples and steps ---------------------------------------------------------------------------------------
def test_a_counterexample_of_any_tier_and_the_steps_are_shown(capsys):
    ce = {"n": 24, "d": 4, "seed": 3, "index": {"j0": 2}, "entry": [1, 0], "lhs": 0.5, "rhs": 0.25,
          "max_abs_diff": np.float64(0.25), "values": {"A": [[1.0, 2.0]]}, "shapes": "(2, 1) vs (1, 2)"}
    tiers = [TierResult("mpmath-50", "holds", "50 digits", [{"n": 1, "d": 1}]),
             TierResult("index", "holds", "index notation", steps=["rule one", "rule two"]),
             TierResult("float64", "refuted", "float64", [{"n": 24, "d": 4}], 3, 0.25, 0.5)]
    v = Verdict("t/x", "mine", False, "a = b", "refuted", tiers, counterexample=ce)
    show_verdicts([v], verbose=False, elapsed=1.0)
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("  counterexample (float64): "))
    for key in ("n=24", "d=4", "seed=3", "index=(j0=2)", "entry=[1, 0]", "lhs=0.5", "rhs=0.25", "max_abs_diff=0.25",
                "shapes=(2, 1) vs (1, 2)"):
        assert key in line, (key, line)
    assert "rule one" not in out and "A=[[1.0, 2.0]]" not in out  # steps and inputs only with -v
    show_verdicts([v], verbose=True, elapsed=1.0)
    out = capsys.readouterr().out.splitlines()
    k = next(i for i, ln in enumerate(out) if ln.startswith("  index: holds"))
    assert out[k + 1:k + 3] == ["      rule one", "      rule two"]
    assert "  its inputs: A=[[1.0, 2.0]]" in out


def test_json_and_verbose_carry_each_tiers_steps(tmp_path):
    p = write(tmp_path, GOOD_AND_BAD)
    good = json.loads(run("check", "--file", str(p), "--json", *CLI_FAST).stdout)["claims"][0]
    assert all(isinstance(t["steps"], list) for t in good["tiers"])
    assert any(t["steps"] for t in good["tiers"])  # the all-sizes proof lists the rules it applied
    out = run("check", "--file", str(p), "-v", *CLI_FAST).output.splitlines()
    for t in good["tiers"]:
        k = next(i for i, ln in enumerate(out) if ln.startswith(f"  {t['tier']}: "))
        assert out[k + 1:k + 1 + len(t["steps"])] == [f"      {s}" for s in t["steps"]]


# 5. size symbols -----------------------------------------------------------------------------------------------------
def test_a_size_symbol_without_a_value_is_one_sentence():
    N = size("N")
    assert N == size("N") and N.is_integer and N.is_positive
    A = Matrix("A", N, d)
    claim = Claim("t/N", "ΣA = ΣAᵀ", Total(A), Total(A.T))
    sentence = ("Claim t/N uses the size symbol N, which has no value: give Claim(..., sizes={...}) with a value of N "
                "for each tier.")
    with pytest.raises(InputError) as info:
        check_claim(claim, **FAST)
    assert str(info.value) == sentence
    v = check_all([claim], "unused", jobs=1, **FAST)[0]
    here = Path(__file__)
    assert v.verdict == "error" and v.reason == sentence
    line = line_of(here, '    claim = Claim("t/N"')
    assert v.defined_at == f"{here}:{line}"
    # a size symbol only in the indices a claim ranges over
    B = Matrix("B", n, d)
    over = Claim("t/over-N", "rows", lambda c: Total(B), lambda c: Total(B), over={"k": N})
    with pytest.raises(InputError, match="Claim t/over-N uses the size symbol N, which has no value"):
        check_claim(over, **FAST)
    # with its values the claim is checked, and holds
    sizes = {"mpmath": ({"N": 1, "d": 1}, {"N": 3, "d": 2}), "exact": ({"N": 2, "d": 1},),
             "float64": ({"N": 7, "d": 3},)}
    ok = check_claim(Claim("t/N", "ΣA = ΣAᵀ", Total(A), Total(A.T), sizes=sizes))
    assert ok.verdict == "holds"


# 6. trace, softmax, non-smooth functions ----------------------------------------------------------------------------
def test_trace_of_a_product_is_cyclic_and_a_slip_is_refuted():
    A, B = Matrix("A", n, d), Matrix("B", d, n)
    assert check_claim(Claim("t/tr", "tr(AB) = tr(BA)", trace(A @ B), trace(B @ A)), **FAST).verdict == "holds"
    slip = check_claim(Claim("t/tr-slip", "tr(AB) = ΣAB", trace(A @ B), Total(A @ B)), **FAST)
    assert slip.verdict == "refuted" and slip.counterexample["n"] == 2  # at n = 1 the trace is the sum
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 3))
    got = evaluate(trace(A @ B), FloatField(), {"A": a, "B": b}, {n: 3, d: 2})
    assert np.isclose(float(np.asarray(got).reshape(-1)[0]), np.trace(a @ b))
    with pytest.raises(ValueError, match=r"^trace needs a square matrix, got shape \(n, d\)\.$"):
        trace(A)


def test_softmax_of_a_vector_sums_to_one():
    v = Matrix("v", n, 1)
    assert check_claim(Claim("t/sm", "Σ softmax(v) = 1", Total(softmax(v)), Fill(1, 1, 1)), **FAST).verdict == "holds"
    slip = check_claim(Claim("t/sm-slip", "Σ softmax(v) = n", Total(softmax(v)), Fill(n, 1, 1)), **FAST)
    assert slip.verdict == "refuted"
    x = np.random.default_rng(2).standard_normal((4, 1))
    got = np.asarray(evaluate(softmax(v), FloatField(), {"v": x}, {n: 4}), dtype=float)
    assert np.allclose(got, np.exp(x) / np.exp(x).sum())
    for bad in (Matrix("r", 1, n), Matrix("M", n, d)):
        with pytest.raises(ValueError, match="softmax takes a column vector.*softmax_rows"):
            softmax(bad)


@pytest.mark.parametrize("make,name", [(lambda a: relu(a), "relu is not smooth at 0"),
                                       (lambda a: abs(a), "abs is not smooth at 0"),
                                       (lambda a: maximum(a, a.T), "maximum is not smooth where its arguments")])
def test_non_smooth_functions_are_refused_with_a_sentence(make, name):
    with pytest.raises(InputError) as info:
        make(Matrix("A", n, n))
    assert str(info.value).startswith(name + " ") or str(info.value).startswith(name + ";")
    assert str(info.value).endswith("so non-smooth functions are not in the language (write the claim on the smooth "
                                    "pieces).")


def test_relu_in_a_claims_file_is_that_claims_error(tmp_path):
    p = write(tmp_path, "from attngrad.derive import Claim, Matrix, n, relu, trace\n\nA = Matrix('A', n, n)\n"
                        "ok = Claim('user/tr', 'tr A = tr Aᵀ', trace(A), trace(A.T))\n"
                        "r = Claim('user/relu', 'relu', lambda c: relu(A), A)\n")
    res = run("check", "--file", str(p), *CLI_FAST)
    assert res.exit_code == 1
    rows = table_rows(res.output)
    assert rows["user/tr"][2] == "holds" and rows["user/relu"][2] == "error"
    assert f"defined at: {p}:{line_of(p, 'r = Claim(')}" in res.output and "relu is not smooth at 0" in res.output
