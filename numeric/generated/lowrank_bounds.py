"""The low-rank path's error bounds and rank: closed forms printed by `attngrad codegen` from derive/papers/lowrank_bounds.py. Do not edit."""

import math


def taylor_shifted(*, beta, g):
    return (2*beta)**(g + 1)/math.factorial(g + 1)


def taylor(*, beta, g):
    return beta**(g + 1)*math.exp(beta)/math.factorial(g + 1)


def chebyshev(*, beta, g):
    return 2**(-g)*beta**(g + 1)*math.exp(2*beta)/math.factorial(g + 1)


def rank(*, d, g):
    return math.comb(d + g, g)


def rank_as23(*, d, g):
    return math.comb(2*d + 2*g, 2*g)


def softmax_error(*, epsilon):
    return -2*epsilon/(epsilon - 1)


def gradient_error(*, E_inf, H, a_1, a_2, d, epsilon_f, n, s):
    return E_inf*H*a_1*a_2*d*epsilon_f**2*n*s + 3*E_inf*H*a_1*a_2*d*epsilon_f*n*s + H**2*a_1*a_2*d*epsilon_f**3*n*s + 4*H**2*a_1*a_2*d*epsilon_f**2*n*s + 5*H**2*a_1*a_2*d*epsilon_f*n*s


def gradient_error_d6(*, a_1, a_2, dp_1, dp_2, n):
    return a_1*a_2*n**2*(dp_1 + dp_2)
