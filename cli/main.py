"""The ``attngrad`` command line: the top-level group, which registers every command, turns bad input into exit 2
and a Ctrl-C into exit 130.

Commands live in modules of their own (``check``, ``codegen``, ``bench``, ``one_layer``, ``lowrank``); they share
``render`` (tables, progress, files), ``parse`` (number lists, sizes, seeds) and ``options`` (the instance options).
No module of ``attngrad.cli`` imports this one except the entry points. Imports of the work are lazy, inside the
commands: ``attngrad --help`` loads neither SymPy, NumPy nor Numba (docs/design.md, "Command-line conventions").
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from attngrad.cli.bench import bench
from attngrad.cli.check import check
from attngrad.cli.codegen import codegen
from attngrad.cli.lowrank import bench_lowrank, phase
from attngrad.cli.one_layer import bounds, landscape, simulate
from attngrad.cli.sweep import sweep
from attngrad.errors import InputError


INTERRUPTED = 130  # the exit code of a Ctrl-C (128 + SIGINT, as shells report it)
EXIT_GRACE = 3.0  # seconds the program may take to end after a Ctrl-C


class _Group(click.Group):
    """Turns bad input (``InputError``) into one plain sentence on stderr and exit code 2, and a Ctrl-C
    (``KeyboardInterrupt``, in any command) into the one line "Interrupted." on stderr and exit code 130, in place
    of Click's "Aborted!" and exit 1 (1 means that a project claim failed). See ``_Interrupts``."""

    program = False

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        self.program = args is None  # run as the program (reading sys.argv), not called by a test with its args
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        interrupts = _Interrupts(self.program)
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            interrupts.handled()
            ctx.exit(INTERRUPTED)
        except Exception as exc:
            if not caused_by_interrupt(exc):
                raise
            interrupts.handled()
            ctx.exit(INTERRUPTED)


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C in disguise: a KeyboardInterrupt that arrived while a Numba-compiled function
    was returning is re-raised by Numba as ``SystemError: … returned a result with an exception set``, with the
    KeyboardInterrupt as its cause. The chain (``__cause__``, ``__context__``) is followed, each link once."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def quiet_unraisable_interrupts() -> None:
    """A Ctrl-C that lands in a callback from C (an LLVM object-cache hook while Numba compiles) cannot be raised
    there; Python would print it as "Exception ignored … Traceback". It is the interrupt the command line handles,
    so it is dropped; every other unraisable exception is reported as before."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    sys.unraisablehook = hook


class _Interrupts:
    """How a command ends on Ctrl-C. What an interrupt leaves behind is settled where the work runs: worker
    processes ignore SIGINT and are ended by the process that started them (derive/check/runner.py, numeric/bench.py
    ``run_in_child``), and files appear whole or not at all (render.write_atomic). Here:

    - the KeyboardInterrupt that reaches the group prints "Interrupted." (once) and exits 130;
    - run as the program, further Ctrl-C are then ignored, and the process ends at most EXIT_GRACE seconds after
      the first one, even if Python cannot raise KeyboardInterrupt that soon (its main thread is inside one long
      C call, an LLVM pass of a Numba compilation) or leaving Python waits on a busy worker thread (a ``thread_map``
      helper compiling): a watcher thread learns of the SIGINT through ``signal.set_wakeup_fd`` and, when the grace
      has passed, prints the line if it has not been printed and ends the process (``os._exit``; a file being
      written then leaves at most its hidden temporary file, never a partial file).
    """

    def __init__(self, program: bool):
        import threading

        self.program = program and threading.current_thread() is threading.main_thread()
        self.lock = threading.Lock()
        self.said = False
        if self.program:
            import atexit

            atexit.register(self._end)
            self._watch()
            quiet_unraisable_interrupts()

    def say(self) -> None:
        with self.lock:
            if not self.said:
                self.said = True
                click.echo("Interrupted.", err=True)

    def handled(self) -> None:
        if self.program:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.say()

    def _end(self) -> None:
        """The last exit handler (registered before any library's): after a handled Ctrl-C, end the process here
        with exit code 130. The handlers registered later have run (multiprocessing's releases its semaphores);
        what would run after — finalizers that can print, an LLVM object's ``__del__`` interrupted mid-compile — does
        not, and an interrupt that landed in code run through ``PyRun_*`` from C cannot turn 130 into death by
        SIGINT (exit −2)."""
        if self.said:
            _exit_now()

    def _watch(self) -> None:
        import os
        import signal
        import threading

        if os.name != "posix":  # Windows takes a socket as the wakeup fd; its consoles end a process differently
            return
        read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)

        def watch() -> None:
            while signal.SIGINT not in os.read(read, 64):
                pass
            time.sleep(EXIT_GRACE)
            self.say()
            _exit_now()

        threading.Thread(target=watch, name="attngrad-interrupts", daemon=True).start()


def _exit_now() -> None:
    """Flush what was printed and end the process with exit code 130, running nothing else."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="attngrad")
def main() -> None:
    """attngrad: check attention-gradient formulas symbolically and numerically."""


bench.add_command(bench_lowrank)
for command in (check, codegen, bench, simulate, sweep, landscape, bounds, phase):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
