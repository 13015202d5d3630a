"""The external benchmark data some tests read (`../shared/benchdata`, or `$HWNAS_BENCHDATA`)
and the mark that skips those tests where it is absent, as on a user's machine."""

from __future__ import annotations

import pytest

from hwnas.evaluators.tabular import benchdata_dir

BENCHDATA = benchdata_dir(must_exist=False)
NB201_TABLE = BENCHDATA / "nb201.csv.gz"
#: skips a test (or, as `pytestmark`, a module) that reads the NAS-Bench-201 table
needs_nb201 = pytest.mark.skipif(
    not NB201_TABLE.is_file(),
    reason=f"no NAS-Bench-201 table at {NB201_TABLE} (set HWNAS_BENCHDATA)",
)
