"""Paper content on top of the engine: each paper's models (chains), claims, bounds and derivations.

One module per paper or per part of one (``alman_song``: Def 1.2 and its printed lemmas; ``lowrank``: its Section D;
``lowrank_bounds``: the polynomial method's bounds; ``one_layer`` and ``pl_bounds``: the one-layer model trained by
GD; ``liang``: the self-attention gradients). ``registry`` lists what attngrad ships: every built-in claim, every
codegen target and every bound. A new paper is a new module here and one line in ``registry``; the engine
(``derive/*.py``) never imports this package.
"""
