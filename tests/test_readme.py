"""The README cannot drift: its Python snippets run and print what it shows; its claims-file snippet is the example
file; the layout section names every top-level folder and module of the package."""

from __future__ import annotations

import math
import os
import re
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
                         timeout=600)
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
