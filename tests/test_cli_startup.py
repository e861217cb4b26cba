"""`attngrad --help` is fast: building the command line and printing any group's or command's help loads neither
SymPy, NumPy nor Numba (docs/design.md, "Command-line conventions"), and the import + --help takes < 0.3 s."""

import json
import statistics
import subprocess
import sys

import pytest

HEAVY = ("sympy", "numpy", "numba")
HELP_OF = [[], ["check"], ["codegen"], ["bench"], ["bench", "exact"], ["bench", "simulate"], ["bench", "lowrank"],
           ["simulate"], ["landscape"], ["bounds"], ["phase"]]

# In a fresh interpreter: time the import of the CLI and one --help, then report which heavy modules got loaded.
PROBE = """
import json, sys, time
t0 = time.perf_counter()
from attngrad.cli.main import main
try:
    main(sys.argv[1:] + ["--help"], prog_name="attngrad")
except SystemExit as exc:
    code = exc.code
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "code": code, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY,)


def probe(args: list[str]) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", HELP_OF, ids=lambda a: " ".join(a) or "attngrad")
def test_help_loads_no_sympy_numpy_or_numba(args):
    out = probe(args)
    assert out["code"] == 0
    assert out["heavy"] == [], f"attngrad {' '.join(args)} --help imported {out['heavy']}"


def test_python_m_help_imports_nothing_heavy():
    """`python -m attngrad.cli --help`, as -X importtime sees it: no heavy package is imported at all."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "attngrad.cli", "--help"], capture_output=True,
                         text=True, check=True)
    imported = [line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")]
    assert "attngrad.cli.main" in imported
    assert not [m for m in imported if m.split(".")[0] in HEAVY]
    assert "Commands:" in res.stdout


def test_help_takes_under_0_3_seconds():
    """Median of five fresh interpreters, timing the import of the CLI plus `--help` (not the interpreter's start)."""
    times = [probe([])["seconds"] for _ in range(5)]
    assert statistics.median(times) < 0.3, times
