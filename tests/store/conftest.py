"""A fresh store per test: small families, anonymous or in the test's own multiprocess directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from perfbudget.store import FamilySpec, Reader, Table

from .specs import vitals_specs


@pytest.fixture
def make_table(tmp_path: Path) -> Iterator[Callable[..., Table]]:
    tables: list[Table] = []

    def make(*, directory: Path | None = None, specs: list[FamilySpec] | None = None, epoch: int = 0) -> Table:
        table = Table(specs if specs is not None else vitals_specs(), directory, epoch=epoch)
        tables.append(table)
        return table

    yield make
    for table in tables:
        table.close()


@pytest.fixture
def table(make_table: Callable[..., Table]) -> Table:
    return make_table()


@pytest.fixture
def reader(table: Table) -> Reader:
    return Reader(table)
