"""Input validation and conversion: one-sentence InputErrors, and equivalent inputs give equal results."""

import math
import re

import numpy as np
import pytest

from attngrad.errors import InputError
from attngrad.numeric import loss_and_grad, random_inputs
from attngrad.numeric.inputs import as_attention_inputs, as_float_array, parse_scale

N, D = 4, 3
GOOD = random_inputs(N, D, seed=11)


def with_(**changes):
    return {**GOOD, **changes}


def assert_one_sentence(message, name):
    assert name in message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    assert not re.search(r"\.\s+[A-Z]", message), message


BAD_INPUTS = {
    "ndim": (with_(A1=GOOD["A1"].ravel()), "A1", "A1 must be a 2-D array, got 1-D with shape (12,)."),
    "ndim3": (with_(Y=GOOD["Y"][None]), "Y", "Y must be a 2-D array"),
    "shape_A2": (with_(A2=np.ones((5, 3))), "A2", "A2 has shape (5, 3) but must be (n, d) = (4, 3) (n and d are read from A1)."),
    "shape_E": (with_(E=np.ones((4, 2))), "E", "E has shape (4, 2) but must be (n, d) = (4, 3) (n and d are read from A1)."),
    "shape_X": (with_(X=np.ones((3, 4))), "X", "X has shape (3, 4) but must be (d, d) = (3, 3) (n and d are read from A1)."),
    "shape_Y": (with_(Y=np.ones((2, 2))), "Y", "Y has shape (2, 2) but must be (d, d) = (3, 3) (n and d are read from A1)."),
    "empty_n": (random_inputs(1, 3) | {k: np.ones((0, 3)) for k in ("A1", "A2", "A3", "E")}, "A1", "at least 1"),
    "empty_d": ({k: np.ones((4, 0)) if k in "A1A2A3E" else np.ones((0, 0)) for k in GOOD}, "A1", "at least 1"),
    "nan": (with_(X=np.where(np.eye(3) > 0, np.nan, GOOD["X"])), "X", "X contains NaN or Inf values."),
    "inf": (with_(E=np.full((4, 3), -np.inf)), "E", "E contains NaN or Inf values."),
    "complex": (with_(A3=GOOD["A3"] + 1j), "A3", "complex"),
    "object": (with_(Y=[[1.0, None, 2.0]] * 3), "Y", "non-numeric"),
    "bool": (with_(X=np.eye(3, dtype=bool)), "X", "boolean"),
    "strings": (with_(A2=[["a", "b", "c"]] * 4), "A2", "non-numeric"),
    "ragged": (with_(A1=[[1.0, 2.0, 3.0], [1.0]] * 2), "A1", "rectangular"),
    "too_big_for_float32": (with_(X=np.full((3, 3), 1e300)), "X", "too large for float32"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_raise_one_sentence_naming_the_array(case):
    inputs, name, expected = BAD_INPUTS[case]
    dtype = np.float32 if case == "too_big_for_float32" else None
    for method in ("generated", "reference"):
        with pytest.raises(InputError) as info:
            loss_and_grad(**inputs, method=method, dtype=dtype)
        assert isinstance(info.value, ValueError)
        assert expected in str(info.value)
        assert_one_sentence(str(info.value), name)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dtype": np.int32}, "dtype"),
        ({"dtype": np.float16}, "dtype"),
        ({"dtype": "banana"}, "dtype"),
        ({"scale": "1/n"}, "scale"),
        ({"scale": -1.0}, "scale"),
        ({"scale": 0}, "scale"),
        ({"scale": math.nan}, "scale"),
        ({"scale": math.inf}, "scale"),
        ({"scale": True}, "scale"),
        ({"scale": None}, "scale"),
        ({"method": "magic"}, "method"),
        ({"threads": 0}, "threads"),
        ({"threads": 10_000}, "threads"),
        ({"threads": 1.5}, "threads"),
        ({"threads": True}, "threads"),
    ],
)
def test_bad_options_raise_one_sentence(kwargs, name):
    with pytest.raises(InputError) as info:
        loss_and_grad(**GOOD, **kwargs)
    assert_one_sentence(str(info.value), name)


def test_named_and_numeric_scales():
    assert parse_scale("1/d", 4) == 0.25
    assert parse_scale("1/sqrt(d)", 4) == 0.5
    assert parse_scale("1", 4) == 1.0
    assert parse_scale(0.3, 4) == 0.3
    assert parse_scale("0.3", 4) == 0.3
    assert parse_scale(np.float32(2.0), 4) == 2.0
    assert parse_scale(3, 4) == 3.0


def test_overflowing_inputs_raise_instead_of_returning_nan():
    huge = with_(A1=GOOD["A1"] * 1e160, A2=GOOD["A2"] * 1e160)
    for method in ("generated", "reference"):
        with pytest.raises(InputError) as info:
            loss_and_grad(**huge, method=method)
        assert_one_sentence(str(info.value), "overflow")


def clean_result(inputs, **kwargs):
    clean = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    return loss_and_grad(**clean, **kwargs)


def assert_same(result, expected):
    assert result.loss == expected.loss
    np.testing.assert_array_equal(result.grad_X, expected.grad_X)
    np.testing.assert_array_equal(result.grad_Y, expected.grad_Y)


@pytest.mark.parametrize("method", ["generated", "reference"])
def test_int_lists_are_accepted_as_float64(method):
    rng = np.random.default_rng(0)
    ints = {k: rng.integers(-2, 3, size=v.shape).tolist() for k, v in GOOD.items()}
    result = loss_and_grad(**ints, method=method)
    assert result.grad_X.dtype == np.float64
    assert_same(result, clean_result(ints, method=method))


@pytest.mark.parametrize("method", ["generated", "reference"])
def test_non_contiguous_inputs_give_the_same_result(method):
    wide = random_inputs(2 * N, 2 * D, seed=3)
    strided = {k: (v[::2, ::2] if k in ("A1", "A3", "Y") else np.asfortranarray(v[::2, ::2])) for k, v in wide.items()}
    strided["X"] = np.ascontiguousarray(strided["X"].T).T  # a transposed view
    assert not any(v.flags.c_contiguous for k, v in strided.items() if k in ("A1", "A3", "Y"))
    result = loss_and_grad(**strided, method=method)
    assert_same(result, clean_result(strided, method=method))


@pytest.mark.parametrize("method", ["generated", "reference"])
def test_mixed_dtypes_promote_to_float64(method):
    mixed = {k: v.astype(np.float32) if k in ("A1", "E", "X") else v for k, v in GOOD.items()}
    result = loss_and_grad(**mixed, method=method)
    assert result.grad_X.dtype == result.grad_Y.dtype == np.float64
    assert_same(result, clean_result(mixed, method=method))


def test_all_float32_stays_float32_unless_dtype_given():
    single = {k: v.astype(np.float32) for k, v in GOOD.items()}
    assert loss_and_grad(**single).grad_X.dtype == np.float32
    assert loss_and_grad(**single, dtype="float64").grad_Y.dtype == np.float64
    assert loss_and_grad(**GOOD, dtype=np.float32).grad_X.dtype == np.float32


def test_converted_arrays_are_c_contiguous_and_share_one_dtype():
    mixed = {k: (np.asfortranarray(v) if k == "A2" else v.astype(np.float32)) for k, v in GOOD.items()}
    arrays = as_attention_inputs(**mixed)
    assert all(a.flags.c_contiguous and a.dtype == np.float64 for a in arrays)
    assert as_float_array("v", np.arange(3)).dtype == np.float64
    assert as_float_array("v", np.ones(2, np.float32)).dtype == np.float32


def test_random_inputs_shapes_dtype_and_scale():
    a = random_inputs(5, 2, seed=1, entry_scale=3.0, dtype=np.float32)
    assert {k: v.shape for k, v in a.items()} == {
        "A1": (5, 2), "A2": (5, 2), "A3": (5, 2), "E": (5, 2), "Y": (2, 2), "X": (2, 2)
    }
    assert all(v.dtype == np.float32 for v in a.values())
    b = random_inputs(5, 2, seed=1)
    np.testing.assert_allclose(a["X"], 3.0 * b["X"], rtol=1e-6)
    for bad in ({"n": 0, "d": 2}, {"n": 2, "d": 1.5}, {"n": 2, "d": 2, "entry_scale": -1.0},
                {"n": 2, "d": 2, "dtype": int}):
        with pytest.raises(InputError):
            random_inputs(**bad)
