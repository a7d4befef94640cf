"""Shared test setup: register the third domain so every domain-parametrised test sees it.

Registration happens at import time, before test modules are collected, because the
contract tests call `available_domains()` while pytest collects them.
"""

from __future__ import annotations

import os
import random

import pytest

from treediff.domains import available_domains, register_domain

from domains.dots import domain as dots_domain

if "dots" not in available_domains():
    register_domain(dots_domain())

SLOW = os.environ.get("TREEDIFF_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` run only with TREEDIFF_SLOW=1."""
    if SLOW:
        return
    skip = pytest.mark.skip(reason="slow test; set TREEDIFF_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)
