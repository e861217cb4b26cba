"""Ctrl-C and progress (issue 11).

A Ctrl-C, in any command: one line on stderr, exit 130, no traceback from this process or any worker process, no
worker left running, and no partial file. Progress off a terminal: plain lines on stderr now and then, stdout
untouched. The interrupts are real: the command runs in its own session and gets SIGINT as a terminal sends it
(to the whole process group) or to its main process alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from attngrad.cli import render
from attngrad.cli.main import INTERRUPTED, main
from attngrad.errors import InputError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists() or os.name != "posix",
                                reason="needs POSIX signals and Linux /proc")

QUIET = {**os.environ, render.INTERVAL_ENV: "3600"}  # no progress line: stderr must be the interrupt's line alone


# processes ----------------------------------------------------------------------------------------------------
def group(pgid: int) -> dict[int, tuple[str, str]]:
    """pid → (state, command line) of every process in the process group ``pgid`` (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid:
            out[int(entry.name)] = (state, cmd)
    return out


def living(pgid: int) -> dict[int, str]:
    return {pid: cmd for pid, (state, cmd) in group(pgid).items() if state not in ("Z", "X")}


def start(*args: str, env=QUIET) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "attngrad.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def wait_for(p: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    """Until a process of p's group other than p runs a command line containing ``marker``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(marker in cmd for pid, cmd in living(p.pid).items() if pid != p.pid):
            return
        assert p.poll() is None, p.communicate()
        time.sleep(0.01)
    p.kill()
    pytest.fail(f"no process running {marker!r} appeared")


def interrupt(p: subprocess.Popen, to_group: bool) -> tuple[str, str]:
    (os.killpg if to_group else os.kill)(p.pid, signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("the command did not end within 60 s of Ctrl-C")
    return out, err


def assert_ended_quietly(p: subprocess.Popen, out: str, err: str) -> None:
    assert p.returncode == INTERRUPTED == 130, (p.returncode, err)
    assert err == "Interrupted.\n", err
    assert "Traceback" not in out and out == ""
    end = time.monotonic() + 10
    while living(p.pid) and time.monotonic() < end:  # the resource tracker ends once its parent has
        time.sleep(0.05)
    assert not living(p.pid), f"left running after Ctrl-C: {living(p.pid)}"


# check --jobs: spawned worker processes --------------------------------------------------------------------------
@pytest.mark.parametrize("to_group,when", [(True, "spawned"), (True, "working"), (False, "working")],
                         ids=["ctrl-c-as-workers-start", "ctrl-c-while-workers-check", "sigint-to-main-only"])
def test_check_jobs_interrupted_exits_130_with_one_line_and_no_worker_left(to_group, when):
    """Workers are interrupted as they start (importing, before their initializer: the window where they used to
    print tracebacks) or while they check claims; they must not print anything and must not outlive the command."""
    p = start("check", "--jobs", "2", "--no-exact")
    wait_for(p, "multiprocessing.spawn")
    if when == "working":
        time.sleep(1.5)
    out, err = interrupt(p, to_group)
    assert_ended_quietly(p, out, err)


# benchmarks: run_in_child subprocesses ---------------------------------------------------------------------------
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "sigint-to-main-only"])
def test_bench_interrupted_exits_130_and_kills_its_child(to_group):
    p = start("bench", "exact", "--n", "64", "--d", "4", "--dtype", "float64", "--methods", "reference",
              "--repeats", "1000000", "--no-memory")
    wait_for(p, "from attngrad.numeric.bench import _time_child")  # the child run_in_child starts
    time.sleep(0.5)
    out, err = interrupt(p, to_group)
    assert_ended_quietly(p, out, err)


# simulate: thread_map workers, and the files of --out and --plot ------------------------------------------------
def test_simulate_interrupted_writes_no_file(tmp_path):
    p = start("simulate", "--steps", "1000000", "--seeds", "0", "--kernel", "softmax", "--train", "W_V",
              "--lambda-every", "50", "--out", str(tmp_path / "run"),
              "--tol", "0", "--window", "1000000",  # no stop rule ends the run before the Ctrl-C (W_V converges fast)
              env={**os.environ, render.INTERVAL_ENV: "0.05"})
    line = p.stderr.readline()  # the first progress line: the runs are under way
    assert re.fullmatch(r"(simulate: \d+/1000000 steps, \d+ s|compiling the generated kernels .*)\n", line), line
    out, err = interrupt(p, True)
    assert p.returncode == 130 and "Traceback" not in err + out and out == ""
    assert err.splitlines()[-1] == "Interrupted." and all(
        ln.startswith(("simulate: ", "compiling ")) for ln in err.splitlines()[:-1]), err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_first_compilation_ends_within_the_grace(tmp_path):
    """With a cold Numba cache the kernels compile for tens of seconds, in LLVM calls during which Python cannot
    raise KeyboardInterrupt, on worker threads that leaving Python would wait for: the command still ends within
    EXIT_GRACE (3 s) of the Ctrl-C, with the notice and the one line."""
    env = {**QUIET, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    p = start("simulate", "--steps", "50", "--seeds", "0-3", "--kernel", "softmax", "--train", "W_V", env=env)
    assert p.stderr.readline() == "compiling the generated kernels (first run; cached afterwards)…\n"
    time.sleep(5.0)  # into the compilation of the steps' kernels, on the worker threads too (without the grace,
    #                  the command ends 13 to 18 s after the Ctrl-C on a 2-core machine)
    t0 = time.monotonic()
    out, err = interrupt(p, True)
    assert time.monotonic() - t0 < 6, "the command did not end within the grace after Ctrl-C"
    assert_ended_quietly(p, out, err)


def test_interrupt_while_writing_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    """Ctrl-C arrives while --out's CSV is being written (after several buffers went to disk): the old file
    stays as it was, the JSON after it is never written, no temporary file is left, exit 130 with one line."""
    import attngrad.numeric.simulate as sim

    class CtrlC:
        def __str__(self):
            raise KeyboardInterrupt

    real_rows = sim.rows
    monkeypatch.setattr(sim, "rows", lambda runs: real_rows(runs) * 200 + [{"kernel": CtrlC()}])
    old = tmp_path / "run.csv"
    old.write_text("the previous run\n")
    res = CliRunner().invoke(main, ["simulate", "--steps", "30", "--seeds", "0", "--kernel", "softmax",
                                    "--train", "W_V", "--lambda-every", "10", "--out", str(tmp_path / "run"),
                                    "--json"])
    assert res.exit_code == 130, res.output
    assert res.stderr == "Interrupted.\n" and res.stdout == ""
    assert old.read_text() == "the previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv"]


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "out.json"
    written = []

    def partial(fh):
        fh.write("x" * 100_000)
        fh.flush()
        written.extend(p.name for p in tmp_path.iterdir())  # the temporary file, already on disk
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render.write_atomic(path, partial)
    assert written and written[0].startswith(".out.json.") and written[0].endswith(".part")
    assert list(tmp_path.iterdir()) == []
    render.write_json(path, {"a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(ValueError):
        render.write_atomic(path, lambda fh: (fh.write('{"a": '), int("nope")))
    assert json.loads(path.read_text()) == {"a": [1, 2]} and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    with pytest.raises(InputError, match=r"^Cannot write the plot to .*/missing/p\.png: No such file"):
        render.write_atomic(tmp_path / "missing" / "p.png", lambda fh: None, binary=True, what="the plot")


def test_a_plot_interrupted_while_saved_leaves_no_file(tmp_path):
    from attngrad.cli.plot import _save

    closed = []

    class Figure:
        def savefig(self, fh, format, dpi):
            assert format == "svg" and dpi == 120
            fh.write(b"<svg" + b" " * 70_000)
            raise KeyboardInterrupt

    class Pyplot:
        def close(self, fig):
            closed.append(fig)

    fig = Figure()
    with pytest.raises(KeyboardInterrupt):
        _save(fig, Pyplot(), str(tmp_path / "f.svg"))
    assert closed == [fig] and list(tmp_path.iterdir()) == []


# any command, in process -------------------------------------------------------------------------------------------
def test_keyboard_interrupt_in_any_command_is_one_line_and_130_not_clicks_aborted(monkeypatch):
    import attngrad.derive.check as check

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "check_all", ctrl_c)
    res = CliRunner().invoke(main, ["check", "attngrad/r-from-c", "--json"])
    assert res.exit_code == 130
    assert res.stderr == "Interrupted.\n" and res.stdout == "" and "Aborted" not in res.output



def _numba_style_interrupt() -> SystemError:
    """What Numba raises when a Ctrl-C arrives as a jitted function returns (seen in CI): a SystemError whose
    cause is the KeyboardInterrupt."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("CPUDispatcher(<function f>) returned a result with an exception set") from ki
    except SystemError as exc:
        return exc


@pytest.mark.parametrize("raised,code", [(_numba_style_interrupt(), 130), (SystemError("a real bug"), 1),
                                         (RuntimeError("x"), 1)], ids=["numba-wrapped-ctrl-c", "system-error", "other"])
def test_a_ctrl_c_wrapped_by_numba_is_an_interrupt_and_other_errors_are_not(monkeypatch, raised, code):
    import attngrad.derive.check as check

    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(check, "check_all", fail)
    res = CliRunner().invoke(main, ["check", "attngrad/r-from-c", "--json"])
    assert res.exit_code == code
    if code == 130:
        assert res.stderr == "Interrupted.\n" and res.stdout == ""
    else:
        assert res.exception is raised

# progress off a terminal ------------------------------------------------------------------------------------------
def run_piped(*args: str, interval: str = "0.05") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attngrad.cli", *args], capture_output=True, text=True,
                          env={**os.environ, render.INTERVAL_ENV: interval}, timeout=600)


def test_check_prints_plain_progress_lines_on_stderr_and_pure_json_on_stdout():
    res = run_piped("check", "attngrad/r-from-c", "alman-song-2024/lemma-D.3", "--json", "--jobs", "1")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [c["id"] for c in out["claims"]] == ["attngrad/r-from-c", "alman-song-2024/lemma-D.3"]
    lines = res.stderr.splitlines()
    assert lines, "no progress line"
    counts = []
    for line in lines:
        m = re.fullmatch(r"checking: (\d+)/2 claims, (\d+) s", line)
        assert m, line
        counts.append(int(m[1]))
    assert counts == sorted(counts) and len(set(counts)) == len(counts)  # a line when the count moved


def test_simulate_prints_steps_progress_on_stderr_and_pure_json_on_stdout():
    res = run_piped("simulate", "--steps", "400", "--seeds", "0", "--kernel", "softmax", "--train", "W_Q",
                    "--lambda-every", "20", "--N", "2", "--n", "3", "--D", "8", "--d", "2", "--dv", "2", "--dy", "1",
                    "--json", interval="0.01")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["settings"]["steps"] == 400
    steps = []
    for line in res.stderr.splitlines():
        if line == "compiling the generated kernels (first run; cached afterwards)…":  # a cold Numba cache
            continue
        m = re.fullmatch(r"simulate: (\d+)/400 steps, \d+ s", line)
        assert m, line
        steps.append(int(m[1]))
    assert steps and steps == sorted(steps) and all(s % 20 == 0 for s in steps)


def test_bad_progress_interval_is_one_sentence():
    res = run_piped("check", "attngrad/r-from-c", interval="soon")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"Error: {render.INTERVAL_ENV} must be a positive number of seconds, got 'soon'.\n"


def test_lines_print_when_the_count_moves_at_most_once_per_interval(capsys, monkeypatch):
    monkeypatch.setattr(render, "REPEAT", 0.5)
    with render.Lines(10, "checking", "claims", interval=0.05) as bar:
        time.sleep(0.2)  # several intervals, one state: one line
        bar.update(3)
        time.sleep(0.2)
        bar.label = "timing fused"
        time.sleep(1.2)  # unchanged: the line again every REPEAT seconds
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["checking: 0/10 claims, 0 s", "checking: 3/10 claims, 0 s"], lines
    assert 2 <= len(lines[2:]) <= 3 and {ln.rsplit(",", 1)[0] for ln in lines[2:]} == {"checking: timing fused"}, lines


def test_progress_note_prints_at_once_off_a_terminal(capsys):
    with render.Progress("simulate", 100) as progress:
        progress.note("compiling the generated kernels (first run; cached afterwards)…")
        progress(50, 100)
    assert capsys.readouterr().err == "compiling the generated kernels (first run; cached afterwards)…\n"


# the first run's compilation --------------------------------------------------------------------------------------
PROBE = """
import json, sys
import numpy as np
from attngrad.numeric.generated import load
from attngrad.numeric.one_layer import compiles_first
mod = load("one_layer_softmax_wv")
before = compiles_first(mod, ("frozen_serial",))
X, W = np.zeros((1, 2, 3)), np.zeros((3, 2))
mod.frozen_serial(*({"X_0": X, "W_K": W, "W_Q": W}[a] for a in mod.FROZEN_ARGS))
print(json.dumps([before, compiles_first(mod, ("frozen_serial",))]))
"""


def test_compiles_first_reads_numbas_cache(tmp_path):
    """With an empty Numba cache the first call compiles; a fresh process with the cache it left does not."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                                      check=True).stdout) for _ in range(2)]
    assert runs == [[True, False], [False, False]]


def test_simulate_announces_the_compilation_only_when_it_happens(monkeypatch):
    import attngrad.numeric.simulate as sim

    settings = sim.replace(sim.Settings(), steps=3, lambda_every=3)
    sim.simulate(["softmax"], [("W_V",)], [0], settings)  # compiled or loaded now
    notices: list[str] = []
    sim.simulate(["softmax"], [("W_V",)], [0], settings, notice=notices.append)
    assert notices == []
    monkeypatch.setattr(sim, "compiles_first", lambda module: True)  # as with a cold cache
    sim.simulate(["softmax"], [("W_V",)], [0], settings, notice=notices.append)
    assert notices == [sim.COMPILING]


def test_a_ctrl_c_python_cannot_raise_is_not_printed_but_other_lost_errors_are():
    """A KeyboardInterrupt in a callback from C (Numba's LLVM object-cache hook) reaches sys.unraisablehook, which
    would print it with a traceback; the command line's hook drops exactly those."""
    code = ("import gc\nfrom attngrad.cli.main import quiet_unraisable_interrupts\nquiet_unraisable_interrupts()\n"
            "class Lost:\n    def __init__(self, exc): self.exc = exc\n    def __del__(self): raise self.exc\n"
            "Lost(KeyboardInterrupt()); gc.collect()\nLost(ValueError('still reported')); gc.collect()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "KeyboardInterrupt" not in res.stderr and "ValueError: still reported" in res.stderr
