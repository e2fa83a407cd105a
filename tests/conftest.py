"""Shared fixtures: catalogs are immutable, so one per session is enough."""

from __future__ import annotations

import pytest

from carmesh.vss import Catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="session")
def catalog4() -> Catalog:
    return Catalog.load("4.0")
