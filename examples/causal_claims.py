"""A user's own models and claims: causal-mask attention and sigmoid attention.

Check:     attngrad check --file examples/causal_claims.py
Kernels:   attngrad codegen --file examples/causal_claims.py --out my_kernels
"""

from attngrad.derive import Claim, Diag, Grad, Matrix, Model, RowSum, Tril, d, exp, half_sq_norm, n

A1, A2, A3, E = (Matrix(name, n, d) for name in ("A1", "A2", "A3", "E"))
X, Y = Matrix("X", d, d), Matrix("Y", d, d)

# Causal softmax attention: token j attends to tokens l <= j.
causal = Model("causal", "softmax attention with a causal mask", ("X", "Y"))
S = causal.define("S", (A1 @ X @ A2.T) / d)
u = causal.define("u", exp(S) * Tril(n), "masked exp(S)")
f = causal.define("f", Diag(RowSum(u) ** -1) @ u)
h = causal.define("h", A3 @ Y)
c = causal.define("c", f @ h - E)
causal.loss = causal.define("L", half_sq_norm(c))
q = causal.define("q", c @ h.T)
p = causal.define("p", f * q - Diag(RowSum(f * q)) @ f, "the same p1 − p2 structure as Alman–Song's Lemma C.7")
causal.define("∇X", (A1.T @ p @ A2) / d)
causal.define("∇Y", A3.T @ f.T @ c)

causal_grad = Claim("user/causal-grad-X", "the masked softmax keeps the closed form (1/d)·A1ᵀ(f∘q − diag((f∘q)1)f)A2",
                    Grad(causal.loss, X), causal["∇X"], source="my notes", model=causal)

# Sigmoid attention: f = σ(S) entrywise, no normalisation.  σ' = σ(1 − σ).
sig = Model("sigmoid", "sigmoid attention", ("X", "Y"))
S2 = sig.define("S", (A1 @ X @ A2.T) / d)
g = sig.define("f", (1 + exp(-S2)) ** -1)
h2 = sig.define("h", A3 @ Y)
c2 = sig.define("c", g @ h2 - E)
sig.loss = sig.define("L", half_sq_norm(c2))
q2 = sig.define("q", c2 @ h2.T)
sig.define("∇X", (A1.T @ (g * (1 - g) * q2) @ A2) / d)

sigmoid_grad = Claim("user/sigmoid-grad-X", "∇_X L = (1/d)·A1ᵀ(σ(1−σ)∘q)A2",
                     Grad(sig.loss, X), sig["∇X"], source="my notes", model=sig)
# A tempting slip: forgetting the σ' factor.
sigmoid_slip = Claim("user/sigmoid-grad-X-slip", "∇_X L = (1/d)·A1ᵀ(σ∘q)A2 (σ' forgotten)",
                     Grad(sig.loss, X), (A1.T @ (g * q2) @ A2) / d, source="my notes", printed=True, model=sig)
