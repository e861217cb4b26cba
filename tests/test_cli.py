"""The command line: exit codes, --json, lazy imports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.derive.papers.registry import builtin_claims as claims

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_does_not_import_sympy_or_numba():
    code = "import sys; from attngrad.cli.main import main; print('sympy' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_python_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "attngrad.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "check" in res.stdout


def test_list_json_matches_registry():
    res = run("check", "--list", "--json")
    assert res.exit_code == 0
    listed = [c["id"] for c in json.loads(res.stdout)]
    assert listed == [c.id for c in claims()]


@pytest.mark.parametrize("args,msg", [
    (["check", "no/such-claim"], "Unknown claim id"),
    (["check", "--paper", "nobody-1999"], "No claim comes from paper"),
    (["check", "--file", "/nonexistent/claims.py"], "does not exist"),
    (["check", "--exact-sizes", "9x9", "attngrad/r-from-c"], "too large for the exact symbolic tier"),
    (["check", "--exact-sizes", "two", "attngrad/r-from-c"], "Sizes must look like"),
])
def test_bad_input_exits_2_with_one_sentence(args, msg):
    res = run(*args)
    assert res.exit_code == 2
    assert msg in res.output
    assert "Traceback" not in res.output
    err_lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(err_lines) == 1


def test_claims_file_without_claims_exits_2(tmp_path):
    p = tmp_path / "none.py"
    p.write_text("import math\n")
    res = run("check", "--file", str(p))
    assert res.exit_code == 2 and "defines no claim" in res.output


def test_json_verdicts_are_computed(tmp_path):
    """--json carries each verdict with its evidence; exit 0 as the project claims hold."""
    res = run("check", "--json", "--seed", "3", "alman-song-2024/lemma-D.3", "attngrad/r-from-c")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    by_id = {c["id"]: c for c in out["claims"]}
    d3, r = by_id["alman-song-2024/lemma-D.3"], by_id["attngrad/r-from-c"]
    assert d3["verdict"] == "refuted" and d3["counterexample"]["seed"] == 3 and d3["relation"]
    assert r["verdict"] == "holds"
    tiers = {t["tier"]: t for t in r["tiers"]}
    assert tiers["exact"]["outcome"] == "holds" and tiers["mpmath-50"]["max_rel_err"] < 1e-25
    assert out["ok"] is True and out["seed"] == 3


def test_failing_project_claim_exits_1(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text(
        "from attngrad.derive import Claim, Matrix, n, d\n"
        "A = Matrix('A', n, d)\n"
        "wrong = Claim('me/double', 'A + A = 3A', A + A, 3 * A)\n"
    )
    res = run("check", "--file", str(p), "--no-exact")
    assert res.exit_code == 1
    assert "me/double" in res.output and "refuted" in res.output
    assert "constant factor" in res.output


def test_example_file_from_readme_runs():
    res = run("check", "--file", str(ROOT / "examples" / "causal_claims.py"), "--exact-sizes", "1x1,2x1")
    assert res.exit_code == 0, res.output
    assert "user/sigmoid-grad-X-slip" in res.output


@pytest.mark.heavy
def test_full_check_json_lists_every_claim_with_computed_evidence():
    """The main job end to end: every built-in claim gets a verdict with evidence computed in this run; the
    one-layer claims' exact tier ran at the sizes their module asks for (one full run serves both)."""
    from attngrad.derive.papers.one_layer import SIZES
    from attngrad.derive.papers.one_layer import claims as one_layer_claims

    res = run("check", "--json")
    out = json.loads(res.stdout)
    got = {c["id"]: c for c in out["claims"]}
    assert list(got) == [c.id for c in claims()]
    for c in claims():
        v = got[c.id]
        assert v["verdict"] in ("holds", "refuted"), (c.id, v["verdict"])
        mp = [t for t in v["tiers"] if t["tier"] == "mpmath-50"][0]
        assert mp["sizes"] and mp["max_abs_err"] is not None and mp["seconds"] > 0
        if v["verdict"] == "refuted":
            assert v["counterexample"]["n"] >= 1 and v["counterexample"]["seed"] == 0
        if not c.printed:
            assert v["verdict"] == "holds", c.id
    for c in one_layer_claims():
        exact = [t for t in got[c.id]["tiers"] if t["tier"] == "exact"][0]
        assert exact["sizes"] == [dict(s) for s in SIZES["exact"]], c.id
    assert res.exit_code == (0 if out["ok"] else 1) == 0


def _imports(path: Path) -> set[str]:
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_cli_module_imports_main_and_helpers_are_shared_not_private():
    """main.py only registers the commands; the command modules share render/parse/options, never each other's
    private helpers (the old main ↔ one_layer ↔ lowrank cycle)."""
    for path in sorted((ROOT / "cli").glob("*.py")):
        imported = _imports(path)
        if path.name != "__main__.py":
            assert "attngrad.cli.main" not in imported, path.name
        private = [m for m in imported if m.startswith("attngrad.cli.") and m.rpartition(".")[2].startswith("_")]
        assert not private, (path.name, private)
    for helper in ("render", "parse", "options", "plot", "outputs"):  # the shared modules import no command module
        imported = _imports(ROOT / "cli" / f"{helper}.py")
        commands = [f"attngrad.cli.{c}" for c in ("main", "check", "codegen", "bench", "one_layer", "lowrank")]
        assert not [m for m in imported if any(m == c or m.startswith(c + ".") for c in commands)], helper


def _choices(command) -> dict[str, tuple[str, ...]]:
    import click

    return {p.name: tuple(p.type.choices) for p in command.params if isinstance(p.type, click.Choice)}


def test_every_choice_comes_from_the_vocabulary():
    from attngrad import vocabulary as V

    commands = {name: main.commands[name] for name in ("simulate", "landscape", "bounds", "phase")}
    commands.update({f"bench {name}": cmd for name, cmd in main.commands["bench"].commands.items()})
    expected = {"kernels": V.KERNELS, "kernel": V.KERNELS, "scale": V.SCALES,
                "poly": (V.AUTO_POLYNOMIAL, *V.POLYNOMIALS), "embedding": V.EMBEDDINGS, "targets": V.TARGETS}
    seen = set()
    for name, command in commands.items():
        for param, choices in _choices(command).items():
            assert choices == expected[param], (name, param)
            seen.add(param)
    assert seen == set(expected)
    assert main.commands["bounds"].params[1].default == V.KERNELS[0]
    assert [p.default for p in main.commands["bench"].commands["exact"].params if p.name == "scale"] == [V.DEFAULT_SCALE]


def test_bounds_json_renders_the_rows_of_pl_instance():
    """`attngrad bounds` computes nothing itself: its numbers are derive.papers.pl_instance's rows at the instance."""
    from attngrad.derive.papers.pl_instance import failures, instance_numbers
    from attngrad.derive.papers.registry import bounds
    from attngrad.numeric.one_layer import Sizes
    from attngrad.numeric.simulate import Settings

    ids = ("pl/any-subset", "pl/W_V", "rate/linear", "softmax/equal-keys")
    res = run("bounds", *ids, "--seed", "1", "--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2", "--dy", "1",
              "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    chosen = bounds(ids)
    numbers = instance_numbers(chosen, "softmax", ("W_V",), 1, Settings(sizes=Sizes(N=2, n=3, D=8, d=2, dv=2, dy=1)),
                               1e-8)
    assert {b["id"]: b["numbers"] for b in out["bounds"]} == json.loads(json.dumps(numbers))
    assert out["instance"] == {"kernel": "softmax", "train": "W_V", "seed": 1} and out["ok"] is True
    assert failures(chosen, numbers) == []
    broken = {"pl/W_V": [{"quantity": "x", "holds": False}], "rate/linear": [{"quantity": "y", "holds": None}]}
    assert failures(chosen, broken) == ["pl/W_V"]


@pytest.mark.parametrize("args,msg", [
    (["bench", "lowrank", "--n", "0"], "--n must be a comma-separated list of positive integers"),
    (["bench", "lowrank", "--beta", "-1"], "--beta must be a comma-separated list of positive numbers"),
    (["phase", "--c", "x"], "--c must be a comma-separated list of positive numbers"),
    (["landscape", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["simulate", "--init-scale", "W_Q"], "--init-scale must look like W_Q=0.5"),
    (["bounds", "--epsilon", "0"], "--epsilon must be a positive number"),
    (["phase", "--seed", "-1"], "--seed must be a non-negative integer, got -1."),
    (["bench", "lowrank", "--budget", "nan"], "--budget must be a positive finite number, got nan."),
    (["simulate", "--plot", "run.txt"], "Cannot write the plot (--plot) to run.txt: its suffix must be .png, .pdf or .svg"),
    (["landscape", "--out", "/nonexistent-attngrad/l"], "the folder /nonexistent-attngrad does not exist"),
])
def test_parse_errors_exit_2_with_one_sentence(args, msg):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert msg in res.output and "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("Error:")]) == 1
