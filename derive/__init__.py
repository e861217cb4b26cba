"""SymPy derivations: models as chains, claims, verdicts."""
