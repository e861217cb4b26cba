"""Scheduling only: with one pytest worker per core (pytest-xdist, pyproject's addopts), the tests marked
``heavy`` are handed out first, so that a test of minutes never starts when the others are done."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)  # stable: file order otherwise
