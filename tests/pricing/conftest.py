"""Fixtures for the pricing tests; the helper functions live in pricing_helpers.py."""

from __future__ import annotations

import pytest

import pricing_helpers


@pytest.fixture
def helpers():
    return pricing_helpers
