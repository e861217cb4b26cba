"""The PL* ball certificate: closed forms printed by `attngrad codegen` from derive/papers/pl_certificate.py. Do not edit."""

import math


def radius(*, L, f_0, mu):
    return 2*math.sqrt(2)*math.sqrt(L)*math.sqrt(f_0)/mu


def path_bound(*, L, eta, f_0, mu):
    return math.sqrt(2)*math.sqrt(L)*eta*math.sqrt(f_0)/(1 - math.sqrt(-eta*mu + 1))


def steps_to(*, epsilon, eta, f_0, mu):
    return math.ceil(math.log(epsilon/f_0)/math.log(-eta*mu + 1))
