"""The README cannot drift: its Python snippets and its shell transcripts (`$ attngrad …`) run and print what it
shows; its claims-file snippet is the example file; the layout section names every top-level folder and module of
the package; the codegen and bounds sections say what the commands do.

Run time 1 min 46 s warm on 2 cores shared with other jobs, 40 s of it `attngrad check` on a sample of its claims.
The transcripts that take minutes run at a smaller size (SMALLER); ATTNGRAD_README_FULL=1 runs them as the README
shows them (`attngrad check` about 1 min, `attngrad phase` 3.5 min). Benchmarks are not run (EXCLUDED, with reasons).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def python_snippets() -> list[tuple[int, str, list[str]]]:
    """(line, code, the indented output block right after it) for every ```python block of the README."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out, k = [], 0
    while k < len(lines):
        if lines[k].strip() == "```python":
            start, k = k + 1, k + 1
            while lines[k].strip() != "```":
                k += 1
            code = "\n".join(lines[start:k])
            k += 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            shown = []
            while k < len(lines) and lines[k].startswith("    "):
                shown.append(lines[k][4:])
                k += 1
            out.append((start, code, shown))
        else:
            k += 1
    return out


def same_text(got: str, shown: str) -> bool:
    """Equal text with every number equal to the printed precision (1e-3 relative; below 1e-6 both count as ~0:
    error estimates and converged losses)."""
    if NUMBER.sub("#", got) != NUMBER.sub("#", shown):
        return False
    for a, b in zip(NUMBER.findall(got), NUMBER.findall(shown)):
        x, y = float(a), float(b)
        if not (math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-6) or (abs(x) < 1e-6 and abs(y) < 1e-6)):
            return False
    return True


def test_same_text_tells_numbers_and_words_apart():
    assert same_text("L = 8612.973631, err ± 9e-09", "L = 8612.973600, err ± 1e-08")
    assert not same_text("L = 8612.97", "L = 8700.00")
    assert not same_text("converged 43", "diverged 43")


SNIPPETS = [s for s in python_snippets() if s[2] and not s[2][0].startswith("$ ")]  # not a shell transcript


def test_the_readme_has_snippets_with_output():
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("line,code,shown", SNIPPETS, ids=[f"README line {s[0]}" for s in SNIPPETS])
def test_readme_snippet_prints_what_the_readme_shows(line, code, shown, tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    got = run.stdout.splitlines()
    assert len(got) == len(shown), (got, shown)
    for g, s in zip(got, shown):
        assert same_text(g, s), f"README line {line}: printed\n  {g}\nbut the README shows\n  {s}"


def test_readme_claims_snippet_is_the_example_file():
    """The claims-file snippet (no output block) is the start of examples/causal_claims.py, line for line."""
    snippet = next(code for _, code, shown in python_snippets() if "causal = Model(" in code)
    example = (REPO / "examples" / "causal_claims.py").read_text(encoding="utf-8")
    assert snippet.strip() in example


def test_readme_layout_names_every_folder_and_shared_module():
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):]
    folders = [p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")
               and p.name not in ("build", "dist") and not p.name.endswith(".egg-info")]
    subpackages = [f"{p.parent.name}/{p.name}" for p in (REPO / "derive").iterdir()
                   if p.is_dir() and (p / "__init__.py").is_file()]
    modules = [p.name for p in REPO.glob("*.py") if p.name != "__init__.py"]
    missing = [x for x in folders + subpackages + modules if x not in layout]
    assert not missing, f"README's layout does not mention {missing}"


# Shell transcripts ------------------------------------------------------------------------------------------------
# Every indented block whose first line starts with `$ attngrad` is a transcript: each `$ attngrad …` line is run
# (in a fresh folder holding a copy of examples/), and what it prints is compared with the lines under it. A line
# "…" stands for any number of lines, and "…" inside a line for any text; numbers compare to printed precision
# (integers exactly), runs of spaces and of "-" (table rules) match any width, and times (`0.1s`) are not
# compared. A new transcript runs by default: leave it out only here, with the reason.
EXCLUDED = {
    ("attngrad bench exact --n 4096,8192,16384 --d 16,32,64,128 --dtype float64,float32 --repeats 3 "
     "--plot docs/bench-exact.png"):
        "a benchmark: its rows are timings of one run on another machine, with the peers extra (PyTorch, JAX)",
    ("attngrad bench lowrank --n 4096,8192,16384,32768,65536,131072,262144 --d 8 --beta 0.25 --degree 3 --poly taylor "
     "--repeats 3 --plot docs/lowrank.png"): "a benchmark: timings of one run (minutes of exact kernels up to n = 65,536)",
    "attngrad bench lowrank --multilayer --repeats 10": "a benchmark: timings of one run against MultiLayer's table",
    "attngrad bench simulate": "a benchmark: timings of one run against PyTorch (the peers extra)",
    "attngrad bench sweep": "a benchmark: timings of one run (5 minutes of sweeps on 1 and 2 workers)",
    ("attngrad bench proofs attngrad/grad-X[1/d] attngrad/grad-X[1] --repeats 5 --tensorgrad-python "
     "/tmp/tgvenv/bin/python"): "a benchmark: timings of one run, against tensorgrad installed in another environment",
}
#: transcripts that continue an earlier one: the commands run first, in the same folder
SWEEP_FIRST = ("attngrad sweep run --train W_Q --grid scale.W_V=1,16 --grid scale.W_Q=0.25,16 --seeds 0-3 "
               "--store runs.sqlite")
BEFORE = {
    "attngrad sweep run --store runs.sqlite --resume": [SWEEP_FIRST],
    "attngrad sweep export --store runs.sqlite --out runs.csv": [SWEEP_FIRST],
}
#: the opt-in switch for the transcripts that take minutes: with it they run as the README shows them
FULL = os.environ.get("ATTNGRAD_README_FULL") == "1"
TIME = re.compile(r"(?<![\w.])\d+(?:\.\d+)?s\b")


def shell_transcripts() -> list[tuple[int, str, list[str]]]:
    """(line, command, the lines it printed) for every `$ attngrad` line of an indented transcript block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str, list[str]]] = []
    k, fenced = 0, False
    while k < len(lines):
        if lines[k].startswith("```"):
            fenced = not fenced
        starts_block = not fenced and lines[k].startswith("    $ attngrad") and (k == 0 or not lines[k - 1].strip())
        if not starts_block:
            k += 1
            continue
        while k < len(lines) and (lines[k].startswith("    ") or (not lines[k].strip() and k + 1 < len(lines)
                                                                   and lines[k + 1].startswith("    "))):
            if lines[k].startswith("    $ "):
                out.append((k + 1, lines[k][6:], []))
            else:
                out[-1][2].append(lines[k][4:].rstrip())
            k += 1
    return out


def command_key(command: str) -> str:
    """The command without its comment, spaces normalised: the key of EXCLUDED and SMALLER."""
    return " ".join(shlex.split(command, comments=True))


def without_plots(argv: list[str]) -> list[str]:
    """argv without `--plot FILE`: a figure is a file, not output, and needs the plot extra."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--plot":
            skip = True
        elif not a.startswith("--plot="):
            out.append(a)
    return out


def attngrad(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "attngrad.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, check=False)


def _line_pattern(shown: str) -> re.Pattern:
    """A shown line as a regex: numbers captured, "…" any text, spaces and table rules of any width."""
    parts = []
    for token in re.split(rf"({NUMBER.pattern}|…|\s+|-{{2,}})", shown):
        if not token:
            continue
        if token == "…":
            parts.append(".*?")
        elif token.isspace():
            parts.append(r"\s+")
        elif re.fullmatch(r"-{2,}", token):
            parts.append("-+")
        elif NUMBER.fullmatch(token):
            parts.append(f"({NUMBER.pattern})")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def line_matches(got: str, shown: str) -> bool:
    shown, got = TIME.sub("<time>", shown.strip()), TIME.sub("<time>", got.strip())
    m = _line_pattern(shown).fullmatch(got)
    if m is None:
        return False
    for a, b in zip(m.groups(), NUMBER.findall(shown)):
        if re.fullmatch(r"[-+]?\d+", b):
            if not re.fullmatch(r"[-+]?\d+", a) or int(a) != int(b):
                return False
        elif not same_text(a, b):
            return False
    return True


def transcript_mismatch(got: list[str], shown: list[str]) -> str | None:
    """None when ``got`` is what ``shown`` shows ("…" lines: any lines in between; no "…" at an end: that end is
    the output's), else where they part."""
    segments: list[list[str]] = [[]]
    for s in shown:
        if s.strip() == "…":
            segments.append([])
        else:
            segments[-1].append(s)
    open_start, open_end = not segments[0], not segments[-1]
    segments = [s for s in segments if s]
    pos = 0
    for k, seg in enumerate(segments):
        starts = [pos] if (k == 0 and not open_start) else range(pos, len(got) - len(seg) + 1)
        found = next((i for i in starts if i + len(seg) <= len(got)
                      and all(line_matches(g, s) for g, s in zip(got[i:i + len(seg)], seg))), None)
        if found is None:
            near = max(range(pos, len(got)), key=lambda i: line_matches(got[i], seg[0]), default=pos)
            return (f"these README lines are not in the output (from output line {pos + 1}):\n  "
                    + "\n  ".join(seg) + "\noutput from there:\n  " + "\n  ".join(got[near:near + len(seg) + 3]))
        pos = found + len(seg)
    if not open_end and pos != len(got):
        return "the output goes on after the README's last line:\n  " + "\n  ".join(got[pos:pos + 5])
    return None


def test_the_simulate_mask_hides_only_where_a_stall_ends():
    a = "gaussian  W_Q  0  plateau @222  8.74  1.29  —  0.0014 → 0.00044  0  71  1  0.9997  2/2  1/1 (at λ steps)"
    b = "gaussian  W_Q  0  plateau @211  8.74  1.29  —  0.0014 → 0.00049  0  71  1  1  2/2  1/1 (at λ steps)"
    assert _simulate_mask(a) == _simulate_mask(b)
    assert _simulate_mask(a) != _simulate_mask(b.replace("8.74", "8.75"))  # f0 is compared
    c = "softmax  W_V  0  converged @172  7.17  9.15e-13  100  0.064 → 0.0063  0.0063  9.68  0.9387  0.8795  2/2  172/172"
    assert _simulate_mask(c) != _simulate_mask(c.replace("@172", "@173"))  # converged rows are compared whole
    stalled = "W_Q  gaussian  8  0%  100%  0%  —  1  1  8/8  23/23"
    assert _simulate_mask(stalled) == _simulate_mask(stalled.replace("—  1", "—  0.9999"))
    assert _simulate_mask(stalled) != _simulate_mask(stalled.replace("23/23", "22/23"))
    assert line_matches("a  0.9999", "a  0.9999") and not line_matches("a  0.9999", "a  1")


def test_transcript_matching_rules():
    assert line_matches("id   verdict  time", "id  verdict  time")
    assert line_matches("x  holds  mpmath-50  3.3e-16      11.2s", "x  holds  mpmath-50  3.3e-16  0.1s")
    assert not line_matches("x  refuted  mpmath-50  3.3e-16  0.1s", "x  holds  mpmath-50  3.3e-16  0.1s")
    assert not line_matches("14 module(s) checked", "13 module(s) checked")
    assert line_matches("wrote /tmp/a/numeric/generated/alman_song_s.py", "wrote …/numeric/generated/alman_song_s.py")
    assert line_matches("------  ---", "----  -----")
    assert transcript_mismatch(["a", "b", "c", "d"], ["a", "…", "d"]) is None
    assert transcript_mismatch(["a", "b", "c", "d"], ["a", "c", "…"]) is not None  # "c" does not follow "a"
    assert transcript_mismatch(["a", "b"], ["a"]) is not None  # an unmarked end is the output's end
    assert transcript_mismatch(["x", "a", "b"], ["…", "a", "b"]) is None


def _check_sample(shown: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """`attngrad check` (every claim, ~1 min on 2 cores) as a run of the claims it shows and of every printed claim,
    with the exact tier at 1×1 only (what the table shows is the same; -v would show the sizes). The summary line's
    totals are compared with `check --list`; its printed counts with this run; "every project claim holds" only
    with ATTNGRAD_README_FULL=1 (the run as shown)."""
    listed = json.loads(attngrad(["check", "--list", "--json"], cwd).stdout)
    shown_ids = {s.split()[0] for s in shown if s.strip() and s.strip() != "…"} | \
        {s.split(": ")[0] for s in shown if re.fullmatch(r"\S+: (holds|refuted|inconclusive)", s)}
    sample = [c for c in listed if c["printed"] or c["id"] in shown_ids]
    counts = r"(\d+) hold, (\d+) refuted, (\d+) inconclusive, (\d+) errors?"
    summary = re.compile(rf"project claims: {counts}; printed claims: {counts}; (.*)")
    k, m = next((k, summary.fullmatch(s)) for k, s in enumerate(shown) if summary.fullmatch(s))
    *numbers, rest = m.groups()
    own, printed = [int(x) for x in numbers[:4]], [int(x) for x in numbers[4:]]
    assert sum(own) == sum(not c["printed"] for c in listed), "the README's count of project claims"
    assert sum(printed) == sum(c["printed"] for c in listed), "the README's count of printed claims"
    assert own[1:] == [0, 0, 0], "the README says every project claim holds"
    n_own = sum(not c["printed"] for c in sample)
    line = (f"project claims: {n_own} hold, 0 refuted, 0 inconclusive, 0 errors; printed claims: {printed[0]} hold, "
            f"{printed[1]} refuted, {printed[2]} inconclusive, {printed[3]} error{'' if printed[3] == 1 else 's'}; {rest}")
    expected = [*shown[:k], line, *shown[k + 1:]]
    return ["check", "--exact-sizes", "1x1", *(c["id"] for c in sample)], expected


def _phase_small(shown: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """`attngrad phase` (minutes: the exact kernel up to n = 65,536) at the README's rows' n, the exact kernel at
    n = 1024 only, on 2 threads as in the README's run (the memory a rank needs counts each thread's buffers); the
    degree, rank and memory columns are compared, the timings and what follows from them (measured or predicted, the
    crossover) are not."""
    ns = sorted({int(s.split()[1]) for s in shown if re.match(r"\d+(\.\d+)?\s+\d+\s", s)})
    return ["phase", "--n", ",".join(map(str, ns)), "--exact-max-n", "1024", "--repeats", "1", "--budget", "0.3",
            "--threads", "2"], shown


def _phase_mask(line: str) -> str:
    """Only the deterministic part of a line of `attngrad phase`."""
    cells = re.split(r"\s{2,}", line.strip())
    if len(cells) == 10 and re.fullmatch(r"\d+(\.\d+)?", cells[0]):
        status = cells[9] if cells[9].startswith("rank beyond memory") else "<timed>"
        return "  ".join(cells[:7] + ["<ms>", "<ms>", status])
    line = re.sub(r"GEMM \S+ Gflop/s", "GEMM <rate> Gflop/s", line)
    line = re.sub(r"GEMM rate × \S+", "GEMM rate × <calibration>", line)
    return re.sub(r"^(c = \S+): .*", r"\1: <crossover>", line)


def _simulate_mask(line: str) -> str:
    """A run that stalls ends where rounding takes it: each machine's BLAS sums a block's products in its own order,
    so the step of a plateau and the values at the end of a stalled run (final f, the PL ratio's end, μ_min, the
    fitted rate, and in the summary the fitted rate of a group where no run converged) differ in their last digits
    between machines. Those cells are masked on such rows; the status,
    f0, the step size, the checks and every converged row are compared as printed."""
    cells = re.split(r"\s{2,}", line.strip())
    if len(cells) == 11 and cells[3] == "0%":  # a summary row where no run converged: its fitted rate is a stall's
        cells[7] = "<end>"
    if len(cells) == 14 and re.match(r"(plateau @\d+|finished)$", cells[3]):
        cells[3] = re.sub(r"@\d+", "@<step>", cells[3])
        cells[5] = "<f>"
        cells[7] = cells[7].split(" → ")[0] + " → <end>"
        cells[8] = cells[11] = "<end>"
    return "  ".join(cells)


#: README command → (a run in seconds instead of minutes, and what to compare; see each function), and a mask
#: applied to both sides of each line before they are compared
SMALLER = {"attngrad check": _check_sample, "attngrad phase": _phase_small}
MASKS = {"attngrad phase": _phase_mask, "attngrad simulate": _simulate_mask}
TRANSCRIPTS = shell_transcripts()


def test_the_readme_has_transcripts_and_every_exclusion_is_one():
    keys = {command_key(c) for _, c, _ in TRANSCRIPTS}
    assert len(keys) >= 10
    assert not set(EXCLUDED) - keys, f"EXCLUDED names commands the README no longer shows: {set(EXCLUDED) - keys}"
    assert not (set(BEFORE) | {c for cs in BEFORE.values() for c in cs}) - keys, "BEFORE names commands the README no longer shows"


@pytest.mark.heavy
@pytest.mark.parametrize("line,command,shown", TRANSCRIPTS,
                         ids=[f"README line {t[0]}: {command_key(t[1])[:60]}" for t in TRANSCRIPTS])
def test_readme_transcript_prints_what_the_readme_shows(line, command, shown, tmp_path, monkeypatch):
    key = command_key(command)
    if key in EXCLUDED:
        pytest.skip(f"not run: {EXCLUDED[key]}")
    assert shown, f"README line {line}: the transcript of `{command}` shows no output"
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    argv = without_plots(shlex.split(command, comments=True)[1:])
    smaller = SMALLER.get(" ".join(["attngrad", *argv]))
    if smaller and not FULL:
        argv, shown = smaller(shown, tmp_path)
    for earlier in BEFORE.get(key, []):
        first = attngrad(shlex.split(earlier)[1:], tmp_path)
        assert first.returncode == 0, f"README line {line}: `{earlier}`, run first, exited {first.returncode}"
    if argv == ["codegen"]:
        got = _codegen_in_a_checkout(tmp_path, monkeypatch)
    else:
        run = attngrad(argv, tmp_path)
        got = run.stdout.splitlines()
        # every transcript shows a run that succeeds (for `check --file`, the README says so in words)
        assert run.returncode == 0, f"README line {line}, `{' '.join(argv)}` exited {run.returncode}: {run.stderr}"
    mask = MASKS.get(" ".join(["attngrad", *argv[:1]]), lambda s: s)
    problem = transcript_mismatch([mask(g) for g in got], [mask(s) for s in shown])
    assert problem is None, f"README line {line}, `{' '.join(argv)}`: {problem}"


def _codegen_in_a_checkout(tmp_path: Path, monkeypatch) -> list[str]:
    """Plain `attngrad codegen` rewrites a checkout's numeric/generated/: run it on a fresh one, not on this tree."""
    from click.testing import CliRunner

    import attngrad.numeric.generated as gen
    from attngrad.cli.main import main

    folder = tmp_path / "checkout" / "numeric" / "generated"
    folder.mkdir(parents=True)
    (tmp_path / "checkout" / "pyproject.toml").write_text('[project]\nname = "attngrad"\n', encoding="utf-8")
    monkeypatch.setattr(gen, "__file__", str(folder / "__init__.py"))
    res = CliRunner().invoke(main, ["codegen"])
    assert res.exit_code == 0, res.output
    return res.output.splitlines()


def test_readme_codegen_writes_only_into_a_source_checkout(tmp_path, monkeypatch):
    """What the README says of plain `attngrad codegen`: an installed package (no pyproject.toml naming attngrad at
    its root) is refused with one sentence and exit 2, and nothing is written."""
    from click.testing import CliRunner

    import attngrad.numeric.generated as gen
    from attngrad.cli.main import main

    folder = tmp_path / "site-packages" / "attngrad" / "numeric" / "generated"
    folder.mkdir(parents=True)
    monkeypatch.setattr(gen, "__file__", str(folder / "__init__.py"))
    res = CliRunner().invoke(main, ["codegen"])
    assert res.exit_code == 2 and "not a source checkout" in res.output and "--out" in res.output, res.output
    assert list(folder.iterdir()) == []
    text = README.read_text(encoding="utf-8")
    assert "source checkout" in text[text.index("### `attngrad codegen`"):]


def test_readme_states_the_user_kernels_calling_convention(tmp_path):
    """The signature the codegen section gives for examples/causal_claims.py's kernel is the printed one."""
    text = README.read_text(encoding="utf-8")
    stated = re.search(r"`my_kernels/causal\.py` has `(kernel\([^`]*\))`", text)
    assert stated, "the README's codegen section names the causal kernel's signature"
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    run = attngrad(["codegen", "--file", "examples/causal_claims.py", "--out", "my_kernels"], tmp_path)
    assert run.returncode == 0, run.stderr
    printed = (tmp_path / "my_kernels" / "causal.py").read_text(encoding="utf-8")
    assert f"def {stated.group(1)}:" in printed


def test_readme_names_every_bound(tmp_path):
    """The bounds section names each bound `attngrad bounds` prints, and counts them right."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### `attngrad bounds`"):]
    section = section[:section.index("Each prints")]
    run = attngrad(["bounds", "--no-numbers", "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    ids = [b["id"] for b in json.loads(run.stdout)["bounds"]]
    named = re.findall(r"`([\w-]+/[\w-]+)`", section)
    assert sorted(named) == sorted(ids)
    words = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
             "Thirteen", "Fourteen", "Fifteen"]
    assert f"# all {len(ids)};" in section and f"{words[len(ids)]} bounds." in section


def test_readme_command_lines_parse():
    """Every `attngrad …` line the README shows (transcripts and lists of options) parses: its command exists and its
    options and their values are ones the command takes."""
    import click

    from attngrad.cli.main import main

    text = README.read_text(encoding="utf-8")
    lines = [m.group(1) for m in re.finditer(r"^    (?:\$ )?(attngrad .*)$", text, re.MULTILINE)]
    assert len(lines) >= 20
    for line in lines:
        argv = shlex.split(line, comments=True)[1:]
        cmd: click.Command = main
        while isinstance(cmd, click.Group) and argv and argv[0] in cmd.commands:
            cmd, argv = cmd.commands[argv[0]], argv[1:]
        assert not isinstance(cmd, click.Group), f"README: `{line}` names no command"
        try:
            cmd.make_context(cmd.name or "attngrad", list(argv))
        except click.UsageError as exc:
            pytest.fail(f"README: `{line}` does not parse: {exc.format_message()}")
