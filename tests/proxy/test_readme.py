"""The configuration examples in the README and the manual in docs/ are valid configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy import parse_config
from tests.conftest import REPO_ROOT

BLOCKS = re.findall(r"```toml\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
# The manual's pages; the dated log is history and keeps old keys on purpose.
MANUAL = [p for p in sorted((REPO_ROOT / "docs").glob("*.md")) if p.name != "log.md"]
DOC_BLOCKS = [
    pytest.param(block, id=f"{page.stem}-{i}")
    for page in MANUAL
    for i, block in enumerate(re.findall(r"```toml\n(.*?)```", page.read_text(), re.S))
]
PHP = """[backends.php]
type = "fastcgi"
address = "127.0.0.1:9000"
document_root = "{root}"
"""


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_readme_example_loads(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each TOML example loads, once its paths point at real directories."""
    _check(block, tmp_path, monkeypatch)


@pytest.mark.parametrize("block", DOC_BLOCKS)
def test_manual_example_loads(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each TOML example of docs/ loads too (a fragment with the one backend it assumes)."""
    _check(block, tmp_path, monkeypatch)


def _check(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "public" / "assets").mkdir(parents=True)
    monkeypatch.setenv("KAFKA_PASSWORD", "secret")
    text = block.replace("/srv/app/public", str(tmp_path / "public"))
    for handler in ('"shop.quotes:quote"', '"shop.validator:validate"', '"myapp.orders:handle"'):
        text = text.replace(handler, '"tests.proxy.sample_handlers:hello"')
    text = text.replace('"myapp.shadow_rules:', '"tests.shadow.comparators:')
    if "[backends" not in text:
        text = PHP.format(root=tmp_path / "public") + text
    config = parse_config(text, "example.toml")
    assert config.routes.routes[-1].name == "default"


def test_readme_has_the_examples() -> None:
    """The reference, the migrated-routes and the shadow examples are all there."""
    assert len(BLOCKS) >= 3
