"""The build under test is the one intended: interpreted source, or the compiled copy.

``ops/test`` runs the suite twice, the second time in the compiled copy made
by ``ops.compile`` with ``STRANGLER_EXPECT_BUILD=compiled``; without this check
a failed or partial build would quietly run the suite on pure Python again.
"""

from __future__ import annotations

import ast
import ctypes
import importlib
import os
import pkgutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.compile import DEMO_MODULES
from proxy._build import COMPILED_MODULES, build_kind

ROOT = Path(__file__).resolve().parents[1]
compiled_only = pytest.mark.skipif(
    os.environ.get("STRANGLER_EXPECT_BUILD") != "compiled",
    reason="checks the compiled copy that ops/test builds (STRANGLER_EXPECT_BUILD=compiled)",
)


def test_the_running_build_is_the_expected_one() -> None:
    assert build_kind() == os.environ.get("STRANGLER_EXPECT_BUILD", "interpreted")


def compiled_library() -> Path:
    """The one extension every compiled module is in (the per-module files only point at it)."""
    [library] = ROOT.glob("*__mypyc.*.so")
    return library


@compiled_only
def test_the_compiled_functions_are_not_exported() -> None:
    """setup.py hides them (-fvisibility=hidden): calls between them skip the symbol table."""
    from proxy import _engine

    assert callable(_engine.note_error)  # the function looked up below still exists
    loaded = ctypes.CDLL(str(compiled_library()))
    assert hasattr(loaded, f"PyInit_{compiled_library().name.split('.')[0]}")
    with pytest.raises(AttributeError):
        loaded.CPyDef__engine___note_error  # noqa: B018 - the lookup is the check


@compiled_only
def test_the_compiled_copy_was_built_from_a_profile() -> None:
    """ops.compile builds as the production wheel is built: profile-guided (setup.py).

    GCC records the switches of each compilation in the library's debug
    information: the code that runs was compiled from the profile, and is
    not the instrumented build that collected it.
    """
    data = compiled_library().read_bytes()
    assert b"-fprofile-use" in data
    assert b"-fprofile-generate" not in data
    assert b"-fvisibility=hidden" in data


def test_every_compiled_module_exists_and_imports() -> None:
    """The library's list and the demo handlers' list name modules that import."""
    for name in (*COMPILED_MODULES, *DEMO_MODULES):
        assert importlib.import_module(name).__name__ == name


def awaits_in_handlers(source: str) -> list[int]:
    """Lines of ``await``/``async with``/``async for`` inside an ``except`` or ``finally`` block."""
    found = []
    for node in ast.walk(ast.parse(source)):
        blocks: list[list[ast.stmt]] = []
        if isinstance(node, ast.Try | ast.TryStar):
            blocks = [h.body for h in node.handlers] + [node.finalbody]
        for statement in (s for block in blocks for s in block):
            found += [
                n.lineno
                for n in ast.walk(statement)
                if isinstance(n, ast.Await | ast.AsyncWith | ast.AsyncFor)
            ]
    return sorted(set(found))


def compiled_lines(check: Callable[[str], list[int]]) -> dict[str, list[int]]:
    """The lines ``check`` finds in each compiled module's source, by module."""
    found = {}
    for name in (*COMPILED_MODULES, *DEMO_MODULES):
        path = ROOT / (name.replace(".", "/") + ".py")
        if lines := check(path.read_text()):
            found[name] = lines
    return found


def test_no_compiled_module_awaits_while_handling_an_exception() -> None:
    """mypyc leaks the handled exception to other tasks across such an await (proxy._build)."""
    assert compiled_lines(awaits_in_handlers) == {}


def test_the_check_finds_an_await_in_except_and_finally_blocks() -> None:
    source = """
async def f(x):
    try:
        await x
    except OSError:
        async with x:
            pass
    finally:
        await x
    try:
        pass
    except ValueError as exc:
        failure = exc
    await x
"""
    assert awaits_in_handlers(source) == [6, 9]


def calls_in_slice_bounds(source: str) -> list[int]:
    """Lines slicing with a call in a bound, as ``view[sock.send(view):]``."""
    return sorted(
        {
            node.lineno
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Slice)
            for bound in (node.lower, node.upper, node.step)
            if bound is not None and any(isinstance(n, ast.Call) for n in ast.walk(bound))
        }
    )


def test_no_compiled_module_calls_inside_a_slice_bound() -> None:
    """mypyc evaluates such a bound twice on a memoryview or an untyped object (proxy._build)."""
    assert compiled_lines(calls_in_slice_bounds) == {}


def test_the_check_finds_a_call_in_any_bound() -> None:
    source = """
view = view[sock.send(view):]
head = data[: len(data) - 1]
every = data[::step(2)]
fine = data[sent:]
"""
    assert calls_in_slice_bounds(source) == [2, 3, 4]


def test_no_interpreted_class_derives_from_a_compiled_one() -> None:
    """mypyc refuses to make an instance of such a class, in the compiled build only.

    Checked on the source's own modules and the compiled list, so the
    interpreted run of the suite fails too.
    """
    compiled = set(COMPILED_MODULES)
    found = []
    for package in ("proxy", "legacy_adapter", "migrated", "shadow"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            name = f"{package}.{info.name}"
            if name in compiled or info.name == "__main__":
                continue
            for cls in vars(importlib.import_module(name)).values():
                if not isinstance(cls, type) or cls.__module__ != name:
                    continue
                found += [
                    f"{name}.{cls.__name__}({base.__module__}.{base.__name__})"
                    for base in cls.__mro__[1:]
                    if base.__module__ in compiled
                ]
    assert found == []
