"""The build under test is the one intended: interpreted source, or the compiled copy.

``ops/test`` runs the suite twice, the second time in the compiled copy made
by ``ops.compile`` with ``STRANGLER_EXPECT_BUILD=compiled``; without this check
a failed or partial build would quietly run the suite on pure Python again.
"""

from __future__ import annotations

import importlib
import os

from proxy._build import COMPILED_MODULES, build_kind


def test_the_running_build_is_the_expected_one() -> None:
    assert build_kind() == os.environ.get("STRANGLER_EXPECT_BUILD", "interpreted")


def test_every_compiled_module_exists_and_imports() -> None:
    for name in COMPILED_MODULES:
        assert importlib.import_module(name).__name__ == name
