"""Claim sources (derive.check.runner): a file is always read as a file, even with a colon in its name; a
``package.module:function`` source builds the claims that function returns; anything else is one sentence."""

from __future__ import annotations

import pytest

from attngrad.derive.check import load_claims
from attngrad.derive.papers.registry import BUILTIN, builtin_claims
from attngrad.errors import InputError

EXAMPLE = '''from attngrad.derive import Claim, Matrix, d, n
A = Matrix("A", n, d)
twice = Claim("user/twice", "A + A = 2A", A + A, 2 * A)
'''


def test_a_file_with_a_colon_in_its_name_is_a_file(tmp_path):
    path = tmp_path / "my:claims.py"
    path.write_text(EXAMPLE)
    assert [c.id for c in load_claims(str(path))] == ["user/twice"]


def test_a_function_source_gives_the_claims_it_returns():
    assert [c.id for c in load_claims(BUILTIN)] == [c.id for c in builtin_claims()]


@pytest.mark.parametrize("source, says", [
    ("no_such_module:claims", "no module has a function by that name"),
    ("attngrad.derive.papers.registry:no_such_function", "no module has a function by that name"),
    ("/no/such/dir:x.py", "does not exist"),
])
def test_a_source_that_is_neither_is_one_sentence(source, says):
    with pytest.raises(InputError, match=says):
        load_claims(source)
