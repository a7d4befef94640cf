"""Shared test setup: register the third domain so every domain-parametrised test sees it.

Registration happens at import time, before test modules are collected, because the
contract tests call `available_domains()` while pytest collects them.
"""

from __future__ import annotations

import random

import pytest

from treediff.domains import available_domains, register_domain

from domains.dots import domain as dots_domain

if "dots" not in available_domains():
    register_domain(dots_domain())


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)
