"""Shared fixtures: a temporary folder as the working directory, and the nabla binary
(``NABLA_BIN``) for the tests that compare with the CLI (skipped without it)."""
import os
import shutil

import pytest

import nabla as nb


@pytest.fixture(autouse=True)
def seeded():
    nb.manual_seed(0)


@pytest.fixture
def nabla_bin():
    path = os.environ.get("NABLA_BIN") or shutil.which("nabla")
    if not path:
        if os.environ.get("NABLA_REQUIRE_BIN") == "1":
            pytest.fail("NABLA_REQUIRE_BIN=1 but NABLA_BIN is not set")
        pytest.skip("set NABLA_BIN to the nabla binary")
    return path
