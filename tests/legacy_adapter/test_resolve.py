"""Script resolution against the answers nginx 1.22.1 gave for the same tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from legacy_adapter import _resolve
from legacy_adapter._resolve import (
    Forbidden,
    NotFound,
    Redirect,
    Resolver,
    RunScript,
    ScriptSettings,
    ServeFile,
    Target,
    resolve,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The tree the nginx experiment used."""
    for name in ("index.php", "foo.php", "dir/index.php", "UP.PHP"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("<?php\n")
    (tmp_path / "htmldir").mkdir()
    (tmp_path / "htmldir/index.html").write_text("hi\n")
    (tmp_path / "noidx").mkdir()
    (tmp_path / "sub.php").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a/b.txt").write_text("x\n")
    (tmp_path / ".hidden").write_text(".h\n")
    return tmp_path


def run(script: str, path_info: str = "") -> Target:
    return RunScript(script, "ROOT" + script, path_info, script)


def _rooted(target: Target, root: Path) -> Target:
    """Replace the real root by ROOT so expectations stay short."""
    if isinstance(target, RunScript):
        filename = target.script_filename.replace(str(root), "ROOT", 1)
        return RunScript(target.script_name, filename, target.path_info, target.document_uri)
    if isinstance(target, ServeFile):
        return ServeFile(target.filename.replace(str(root), "ROOT", 1))
    return target


COMMON = [
    ("/", run("/index.php")),
    ("/foo.php", run("/foo.php")),
    ("/missing.php", NotFound("")),
    ("/dir", Redirect("/dir/")),
    ("/dir/", run("/dir/index.php")),
    ("/noidx", Redirect("/noidx/")),
    ("/noidx/", Forbidden("")),
    ("/htmldir", Redirect("/htmldir/")),
    ("/htmldir/", ServeFile("ROOT/htmldir/index.html")),
    ("/a/b.txt", ServeFile("ROOT/a/b.txt")),
    ("/.hidden", ServeFile("ROOT/.hidden")),
    ("/UP.PHP", ServeFile("ROOT/UP.PHP")),
    ("/sub.php", NotFound("")),
]

PER_PATH = [
    *COMMON,
    ("/foo.php/bar/baz", run("/foo.php", "/bar/baz")),
    ("/foo.php/", run("/foo.php", "/")),
    ("/dir/index.php/x", run("/dir/index.php", "/x")),
    ("/missing.php/x", NotFound("")),
    ("/a/b.txt/", NotFound("")),
    ("/nothing", NotFound("")),
    ("/nothing/", NotFound("")),
    ("/sub.php/", NotFound("")),
    ("/.php", NotFound("")),
]

FRONT_CONTROLLER = [
    *COMMON,
    ("/foo.php/bar/baz", run("/index.php")),
    ("/foo.php/", run("/index.php")),
    ("/dir/index.php/x", run("/index.php")),
    ("/missing.php/x", run("/index.php")),
    ("/a/b.txt/", run("/index.php")),
    ("/nothing", run("/index.php")),
    ("/nothing/", run("/index.php")),
    ("/sub.php/", Forbidden("")),
    ("/.php", NotFound("")),
]


def _same(actual: Target, expected: Target) -> bool:
    if isinstance(expected, NotFound):
        return type(actual) is type(expected) and actual.status == expected.status
    return actual == expected


@pytest.mark.parametrize(("path", "expected"), PER_PATH, ids=[p for p, _ in PER_PATH])
def test_per_path_scripts(root: Path, path: str, expected: Target) -> None:
    """Per-path resolution gives what nginx's `[^/]\\.php(/|$)` config gave."""
    target = resolve(path, ScriptSettings(str(root), None))
    assert _same(_rooted(target, root), expected), target


@pytest.mark.parametrize(
    ("path", "expected"), FRONT_CONTROLLER, ids=[p for p, _ in FRONT_CONTROLLER]
)
def test_front_controller(root: Path, path: str, expected: Target) -> None:
    """Front-controller resolution gives what nginx's `try_files ... /index.php` config gave."""
    target = resolve(path, ScriptSettings(str(root) + "/", "/index.php"))
    assert _same(_rooted(target, root), expected), target


@pytest.mark.parametrize("front_controller", [None, "/index.php"], ids=["per-path", "front"])
def test_resolver_answers_as_resolve_every_time(root: Path, front_controller: str | None) -> None:
    """The backend's resolver, which remembers scripts, gives resolve's answers, asked again."""
    settings = ScriptSettings(str(root), front_controller)
    resolver = Resolver(settings)
    cases = PER_PATH if front_controller is None else FRONT_CONTROLLER
    for _ in range(3):
        for path, expected in cases:
            target = resolver.resolve(path)
            assert _same(_rooted(target, root), expected), (path, target)
            assert target == resolve(path, settings)


@pytest.mark.parametrize("front_controller", [None, "/index.php"], ids=["per-path", "front"])
def test_resolver_sees_the_tree_change(root: Path, front_controller: str | None) -> None:
    """A remembered script that goes, or turns into a directory, is not run; back, it is."""
    resolver = Resolver(ScriptSettings(str(root), front_controller))
    assert _rooted(resolver.resolve("/foo.php"), root) == run("/foo.php")
    (root / "foo.php").unlink()
    assert isinstance(resolver.resolve("/foo.php"), NotFound)
    (root / "foo.php").mkdir()
    assert isinstance(resolver.resolve("/foo.php"), NotFound)
    (root / "foo.php").rmdir()
    (root / "foo.php").write_text("<?php\n")
    assert _rooted(resolver.resolve("/foo.php"), root) == run("/foo.php")


def test_resolver_tries_files_every_time(root: Path) -> None:
    """A script reached through try_files is not remembered: a file put in its way is served."""
    resolver = Resolver(ScriptSettings(str(root), "/index.php"))
    assert _rooted(resolver.resolve("/nothing"), root) == run("/index.php")
    (root / "nothing").write_text("now a file\n")
    assert _rooted(resolver.resolve("/nothing"), root) == ServeFile("ROOT/nothing")
    (root / "dir/index.html").write_text("first\n")
    resolver = Resolver(ScriptSettings(str(root), None, index=("index.php", "index.html")))
    assert _rooted(resolver.resolve("/dir/"), root) == run("/dir/index.php")
    (root / "dir/index.php").unlink()
    assert _rooted(resolver.resolve("/dir/"), root) == ServeFile("ROOT/dir/index.html")


def test_resolver_remembers_only_scripts_named_by_short_paths(root: Path) -> None:
    """A script named by its path is the same answer again; try_files and long paths are new."""
    resolver = Resolver(ScriptSettings(str(root), None))
    assert resolver.resolve("/foo.php/x") is resolver.resolve("/foo.php/x")
    assert resolver.resolve("/dir/") is not resolver.resolve("/dir/")
    long = "/foo.php/" + "x" * 300
    assert resolver.resolve(long) is not resolver.resolve(long)


def test_resolver_memory_is_bounded(root: Path) -> None:
    """Every PATH_INFO is a path of its own: what is remembered of them stays bounded."""
    resolver = Resolver(ScriptSettings(str(root), None))
    for n in range(3000):
        assert _rooted(resolver.resolve(f"/foo.php/{n}"), root) == run("/foo.php", f"/{n}")
    assert len(resolver._scripts) <= _resolve._CACHED_SCRIPTS
    assert resolver.resolve("/foo.php/2999") is resolver.resolve("/foo.php/2999")


def test_statuses() -> None:
    """A missing target is a 404 and a directory without index a 403 (nginx's codes)."""
    assert NotFound("x").status == 404
    assert Forbidden("x").status == 403
    assert isinstance(Forbidden("x"), NotFound)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (("index.html", "index.php"), ServeFile("ROOT/both/index.html")),
        (("index.php",), run("/both/index.php")),
    ],
    ids=["html-first", "php-only"],
)
def test_index_order(root: Path, index: tuple[str, ...], expected: Target) -> None:
    """Index files are tried in the configured order."""
    (root / "both").mkdir()
    (root / "both/index.php").write_text("<?php\n")
    (root / "both/index.html").write_text("hi\n")
    target = resolve("/both/", ScriptSettings(str(root), None, index=index))
    assert _rooted(target, root) == expected


@pytest.mark.parametrize(
    ("style", "expected"),
    [(None, NotFound("")), ("/index.php", run("/index.php"))],
    ids=["per-path", "front"],
)
def test_static_off(root: Path, style: str | None, expected: Target) -> None:
    """With static files off a plain file counts as missing."""
    target = resolve("/a/b.txt", ScriptSettings(str(root), style, static=False))
    assert _same(_rooted(target, root), expected)


def test_missing_front_controller_is_404(tmp_path: Path) -> None:
    """When the front controller itself is missing the answer is 404, not a loop."""
    target = resolve("/anything", ScriptSettings(str(tmp_path), "/index.php"))
    assert isinstance(target, NotFound)
    assert target.status == 404


def test_custom_suffix(root: Path) -> None:
    """The script suffix is configurable (e.g. `.php5`)."""
    (root / "old.php5").write_text("<?php\n")
    target = resolve("/old.php5/x", ScriptSettings(str(root), None, php_suffix=".php5"))
    assert _rooted(target, root) == run("/old.php5", "/x")


def test_symlink_followed(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Symlinks are followed, as nginx does with disable_symlinks off."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "f.txt").write_text("x")
    os.symlink(outside, root / "link")
    assert _rooted(resolve("/link/f.txt", ScriptSettings(str(root), None)), root) == ServeFile(
        "ROOT/link/f.txt"
    )


@pytest.mark.parametrize(
    "path", ["relative", "/a/../b", "/a//b", "/./x", "/a\x00b", "/a\nb", "/a\rb"], ids=repr
)
def test_unnormalised_path_is_a_bug(root: Path, path: str) -> None:
    """Paths that normalize_path would never produce are refused outright."""
    with pytest.raises(ValueError, match="not normalised"):
        resolve(path, ScriptSettings(str(root), None))
