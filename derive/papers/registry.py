"""What attngrad ships: every built-in claim, every codegen target and every bound, by paper.

The only place that lists the papers: ``attngrad check``, ``attngrad codegen`` and ``attngrad bounds`` read their
built-in content from here.
"""

from __future__ import annotations

from typing import Callable

from attngrad.derive.claims import Claim
from attngrad.derive.codegen import Formulas
from attngrad.derive.derivation import Bound
from attngrad.derive.model import Model
from attngrad.errors import InputError
from attngrad.vocabulary import ALMAN_SONG_MODULE, ONE_LAYER_MODULES, TRAINING_MODES

from . import (
    alman_song,
    kernels,
    liang,
    lowrank_bounds,
    lowrank_claims,
    one_layer,
    one_layer_regimes,
    pl_bounds,
    pl_certificate,
)

#: the claim source of the built-in claims, for the checker's worker processes (``derive.check.claims_of``)
BUILTIN = f"{__name__}:builtin_claims"


def builtin_claims() -> list[Claim]:
    """Every claim attngrad ships, in report order."""
    return (alman_song.claims() + lowrank_claims.claims() + liang.claims() + one_layer.claims()
            + one_layer_regimes.claims() + kernels.claims())


def codegen_targets() -> dict[str, Model | Formulas]:
    """Module name → chain (or closed forms), for every module in ``numeric/generated/``."""
    return {ALMAN_SONG_MODULE: alman_song.alman_song("s"),
            "lowrank_bounds": Formulas("The low-rank path's error bounds and rank", "derive/papers/lowrank_bounds.py",
                                       lowrank_bounds.printed_formulas()),
            "pl_certificate": Formulas("The PL* ball certificate", "derive/papers/pl_certificate.py",
                                       pl_certificate.printed_formulas()),
            **{module: one_layer.one_layer(kernel, 1, train=TRAINING_MODES[mode])
               for (kernel, mode), module in ONE_LAYER_MODULES.items()}}


#: every bound attngrad ships, by id (each built on first use)
BOUNDS: dict[str, Callable[[], Bound]] = {**pl_bounds.BOUNDS, **pl_certificate.CERTIFICATE_BOUNDS,
                                          **lowrank_bounds.LOWRANK_BOUNDS}


def bounds(ids: tuple[str, ...] = ()) -> list[Bound]:
    """The bounds by id (all by default); an unknown id is an InputError."""
    unknown = [i for i in ids if i not in BOUNDS]
    if unknown:
        raise InputError(f"Unknown bound '{unknown[0]}'; the bounds are {', '.join(BOUNDS)}.")
    return [BOUNDS[i]() for i in (ids or tuple(BOUNDS))]
