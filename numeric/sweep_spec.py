"""A sweep's grid: every combination of the swept parameters × kernels × training modes × seeds (docs/sweeps.md).

A spec is a small TOML file (or the same fields from the command line)::

    kernels = ["softmax", "gaussian"]
    modes = ["W_Q", "W_V", "W_Q,W_K,W_V"]
    seeds = 100                  # seeds 0 … 99, or a list such as [0, 3, 7]
    curves = false               # keep every run's loss curve in the store

    [fixed]                      # parameters every run shares (default: those of `attngrad simulate`)
    steps = 2000

    [grid]                       # the swept parameters, each a list of values
    "scale.W_V" = [1, 4, 16]
    "D/Nn" = [0.5, 1, 2]

Parameters: the sizes ``N n D d dv dy``, ``D/Nn`` (D as a multiple of N·n, rounded up), the settings of a GD run
(``steps eta tol target window plateau_rtol divergence lambda_every embedding targets tie_qk``) and the initial
scales ``scale.W_Q scale.W_K scale.W_V scale.W_O``. Every run is `attngrad simulate`'s GD run with its stop rules.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Iterator

from attngrad.errors import InputError
from attngrad.numeric.one_layer import INIT_SCALES, Sizes, check_kernel, check_train
from attngrad.numeric.simulate import Settings
from attngrad.vocabulary import EMBEDDINGS, TARGETS, WEIGHTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SIZE_PARAMS = ("N", "n", "D", "d", "dv", "dy")
SETTING_PARAMS = ("steps", "eta", "tol", "target", "window", "plateau_rtol", "divergence", "lambda_every",
                  "embedding", "targets", "tie_qk")
SCALE_PARAMS = tuple(f"scale.{w}" for w in WEIGHTS)
RELATIVE_D = "D/Nn"
PARAMETERS = (*SIZE_PARAMS, RELATIVE_D, *SETTING_PARAMS, *SCALE_PARAMS)
SPEC_KEYS = ("name", "kernels", "modes", "seeds", "curves", "fixed", "grid")
MAX_RUNS = 10_000_000  # a grid beyond this is refused before anything is listed


@dataclass(frozen=True)
class Task:
    """One run of a sweep: its grid point, kernel, training mode, seed and every parameter (defaults included)."""

    point: int
    kernel: str
    train: tuple[str, ...]
    seed: int
    params: dict[str, Any]  # the resolved parameters the run's key is computed from
    coords: dict[str, Any]  # the grid values of its point, as given (``D/Nn`` among them)
    curves: bool = False

    def record_params(self) -> dict[str, Any]:
        """What the store keeps as the run's parameters: the resolved ones and the grid values as given."""
        return {**self.params, **{f"grid.{k}": v for k, v in self.coords.items()}}


@dataclass(frozen=True)
class SweepSpec:
    kernels: tuple[str, ...]
    modes: tuple[tuple[str, ...], ...]
    seeds: tuple[int, ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    curves: bool = False
    name: str = ""

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for _, v in self.grid)

    @property
    def n_runs(self) -> int:
        return self.n_points * len(self.kernels) * len(self.modes) * len(self.seeds)

    def points(self) -> list[dict[str, Any]]:
        """The grid's points (dicts of the swept values), first parameter slowest."""
        names = [k for k, _ in self.grid]
        return [dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in self.grid))]

    def settings(self, coords: dict[str, Any]) -> Settings:
        """The GD settings of the runs at a grid point."""
        return settings_of(resolve({**dict(self.fixed), **coords}))

    def tasks(self) -> Iterator[Task]:
        """Every run, grid point by grid point (the order a sweep runs them in)."""
        for i, coords in enumerate(self.points()):
            params = resolve({**dict(self.fixed), **coords})
            for kernel in self.kernels:
                for mode in self.modes:
                    for seed in self.seeds:
                        full = {**params, "kernel": kernel, "train": ",".join(mode), "seed": seed}
                        yield Task(i, kernel, mode, seed, full, coords, self.curves)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (stored in the results store, so that ``--resume`` needs no spec file)."""
        return {"name": self.name, "kernels": list(self.kernels), "modes": [",".join(m) for m in self.modes],
                "seeds": list(self.seeds), "curves": self.curves, "fixed": dict(self.fixed),
                "grid": {k: list(v) for k, v in self.grid}}


def spec_from_dict(data: Any, where: str = "the spec") -> SweepSpec:
    """A SweepSpec from plain data (a TOML file's table, or ``SweepSpec.to_dict``); InputError naming the field."""
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a table of fields ({', '.join(SPEC_KEYS)}).")
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise InputError(f"{where} has an unknown field {unknown[0]!r}; the fields are {', '.join(SPEC_KEYS)}.")
    kernels = _names(data.get("kernels", ["softmax", "gaussian"]), "kernels", where)
    for k in kernels:
        check_kernel(k)
    modes = tuple(check_train(m) for m in _names(data.get("modes", ["W_Q"]), "modes", where))
    seeds = _seeds(data.get("seeds", 8), where)
    curves = data.get("curves", False)
    if not isinstance(curves, bool):
        raise InputError(f"curves in {where} must be true or false, got {curves!r}.")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InputError(f"name in {where} must be a string, got {name!r}.")
    fixed = data.get("fixed", {})
    grid = data.get("grid", {})
    for label, table in (("fixed", fixed), ("grid", grid)):
        if not isinstance(table, dict):
            raise InputError(f"[{label}] in {where} must be a table of parameter = value.")
        for key in table:
            check_parameter(key, f"[{label}] in {where}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"The grid parameter {key!r} in {where} needs a non-empty list of values, got {values!r}.")
        if len(set(map(repr, values))) != len(values):
            raise InputError(f"The grid parameter {key!r} in {where} repeats a value: {values!r}.")
    both = set(fixed) & set(grid)
    if both:
        raise InputError(f"{sorted(both)[0]!r} is both fixed and swept in {where}; keep it in one table.")
    if "D" in set(fixed) | set(grid) and RELATIVE_D in set(fixed) | set(grid):
        raise InputError(f"Give D or {RELATIVE_D} in {where}, not both.")
    spec = SweepSpec(tuple(kernels), modes, seeds, tuple((k, tuple(v)) for k, v in grid.items()),
                     tuple(fixed.items()), curves, name)
    if spec.n_runs > MAX_RUNS:
        raise InputError(f"{where} lists {spec.n_runs:,} runs, more than the {MAX_RUNS:,} a sweep takes.")
    for coords in spec.points():  # every point must give valid settings before anything runs
        try:
            spec.settings(coords)
        except InputError as exc:
            at = ", ".join(f"{k} = {v!r}" for k, v in coords.items())
            raise InputError(f"{str(exc).rstrip('.')} (at {at or 'every point'} in {where}).") from None
    return spec


def named_sweeps() -> dict[str, Any]:
    """The sweeps attngrad ships (numeric/sweeps/NAME.toml), by name."""
    from importlib.resources import files

    folder = files("attngrad.numeric") / "sweeps"
    return {f.name[:-5]: f for f in folder.iterdir() if f.name.endswith(".toml")}


def load_spec(path: str | Path) -> SweepSpec:
    """Read a TOML spec file (the module docstring), or a named sweep (``named_sweeps``) when no file has that
    name; InputError, one sentence, if it cannot be read or is invalid."""
    named = named_sweeps()
    if not Path(path).exists() and str(path) in named:
        return spec_from_dict(tomllib.loads(named[str(path)].read_text()), f"the sweep {path}")
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"Cannot read the sweep spec {path}: {exc.strerror or exc} (the named sweeps are "
                         f"{', '.join(sorted(named))}).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"The sweep spec {path} is not valid TOML: {exc}.") from None
    return spec_from_dict(data, str(path))


def check_parameter(key: Any, where: str) -> str:
    if key not in PARAMETERS:
        raise InputError(f"Unknown parameter {key!r} in {where}; the parameters are {', '.join(PARAMETERS)}.")
    return key


def resolve(values: dict[str, Any]) -> dict[str, Any]:
    """Every parameter of a run, defaults filled in (those of ``Settings()``), ``D/Nn`` turned into D."""
    base = Settings()
    out: dict[str, Any] = {k: getattr(base.sizes, k) for k in SIZE_PARAMS}
    out.update({k: getattr(base, k) for k in SETTING_PARAMS})
    out.update({f"scale.{w}": float(v) for w, v in INIT_SCALES.items()})
    for key, value in values.items():
        if key == RELATIVE_D:
            continue
        out[key] = float(value) if key.startswith("scale.") and _real(value) else value
    if RELATIVE_D in values:
        ratio = values[RELATIVE_D]
        if not (_real(ratio) and 0 < ratio < math.inf):
            raise InputError(f"{RELATIVE_D} must be a positive number, got {ratio!r}.")
        out["D"] = max(1, math.ceil(Fraction(ratio) * out["N"] * out["n"]))  # exact: no rounding of ratio·N·n
    return out


def settings_of(params: dict[str, Any]) -> Settings:
    """The Settings of a run from its resolved parameters (InputError for a value Settings or Sizes refuses)."""
    for w in WEIGHTS:
        v = params[f"scale.{w}"]
        if not (_real(v) and 0 <= v < math.inf):
            raise InputError(f"scale.{w} must be a finite number ≥ 0, got {v!r}.")
    if params["embedding"] not in EMBEDDINGS:
        raise InputError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {params['embedding']!r}.")
    if params["targets"] not in TARGETS:
        raise InputError(f"targets must be one of {', '.join(TARGETS)}, got {params['targets']!r}.")
    if not isinstance(params["tie_qk"], bool):
        raise InputError(f"tie_qk must be true or false, got {params['tie_qk']!r}.")
    sizes = Sizes(**{k: params[k] for k in SIZE_PARAMS})
    scales = tuple((w, float(params[f"scale.{w}"])) for w in WEIGHTS if params[f"scale.{w}"] != INIT_SCALES[w])
    return replace(Settings(), sizes=sizes, scales=scales, **{k: params[k] for k in SETTING_PARAMS})


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """``name=v1,v2,…`` from the command line (numbers where they parse, else strings)."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise InputError(f"A grid parameter is name=v1,v2,…; got {text!r}.")
    check_parameter(name, "--grid")
    return name, [_value(v.strip()) for v in values.split(",")]


def parse_set_option(text: str) -> tuple[str, Any]:
    """``name=value`` from the command line."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not value.strip():
        raise InputError(f"A fixed parameter is name=value; got {text!r}.")
    check_parameter(name, "--set")
    return name, _value(value.strip())


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _names(value: Any, what: str, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise InputError(f"{what} in {where} must be a non-empty list of names, got {value!r}.")
    return items


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    """An integer k (seeds 0 … k−1) or a list of distinct non-negative integers."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        if value < 1:
            raise InputError(f"seeds in {where} must be a positive count or a list, got {value!r}.")
        return tuple(range(int(value)))
    if not isinstance(value, list) or not value or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in value):
        raise InputError(f"seeds in {where} must be a positive count or a list of non-negative integers, got {value!r}.")
    if len(set(value)) != len(value):
        raise InputError(f"seeds in {where} repeat a seed: {value!r}.")
    return tuple(int(s) for s in value)


__all__ = ["PARAMETERS", "SweepSpec", "Task", "load_spec", "named_sweeps", "parse_grid_option", "parse_set_option", "resolve",
           "settings_of", "spec_from_dict"]
