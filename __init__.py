"""attngrad: a symbolic-plus-numeric derivation checker for the theory of training attention."""

__version__ = "0.1.0"
