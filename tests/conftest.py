"""Fixtures shared by every test package.

The service fixtures start real PHP-FPM and nginx (see ``ops.services``) once
per session: one PHP-FPM pool serves every test application (nginx passes the
full SCRIPT_FILENAME, so one pool can serve several document roots), and one
nginx per application is the reference oracle.  A service that is missing or
fails to start skips its tests locally and fails them in CI (``CI=true``), so
nothing is skipped silently there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from ops.services import Nginx, PhpFpm, Service, ServiceError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_ROOT = REPO_ROOT / "ops" / "demo" / "app" / "public"
MULTISCRIPT_ROOT = REPO_ROOT / "tests" / "apps" / "multiscript" / "public"
FRONTCONTROLLER_ROOT = REPO_ROOT / "tests" / "apps" / "frontcontroller" / "public"

S = TypeVar("S", bound=Service)


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it in CI where every service must run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason}")


@contextmanager
def serving(make: Callable[[], S]) -> Iterator[S]:
    """Build and start a service, stop it afterwards; unavailable -> skip or fail.

    A port picked free can be taken before the service binds it (outgoing
    connections draw from the same range): that start is retried on new ports.
    """
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        try:
            service = make()
            service.start()
            break
        except ServiceError as exc:
            if "Address already in use" not in str(exc) or attempt == _PORT_ATTEMPTS:
                service_unavailable(str(exc))
    try:
        yield service
    finally:
        service.close()


_PORT_ATTEMPTS = 3


@pytest.fixture(
    scope="module",
    params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")],
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both asyncio and trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def php_fpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhpFpm]:
    """One PHP-FPM pool for every test application (8 static children)."""
    avatars = tmp_path_factory.mktemp("avatars")
    env = {"MULTISCRIPT_UPLOAD_DIR": str(avatars)}
    with serving(partial(PhpFpm, max_children=8, env=env)) as fpm:
        yield fpm


@pytest.fixture(scope="session")
def nginx_demo(php_fpm: PhpFpm) -> Iterator[Nginx]:
    """nginx serving the demo app: per-path scripts, /conf/ denied."""
    make = partial(Nginx, php_fpm.address, DEMO_ROOT, style="per_path", deny=["/conf/"])
    with serving(make) as n:
        yield n


@pytest.fixture(scope="session")
def nginx_multiscript(php_fpm: PhpFpm) -> Iterator[Nginx]:
    """nginx serving the multi-script app (per-path scripts, PATH_INFO split)."""
    with serving(partial(Nginx, php_fpm.address, MULTISCRIPT_ROOT, style="per_path")) as n:
        yield n


@pytest.fixture(scope="session")
def nginx_frontcontroller(php_fpm: PhpFpm) -> Iterator[Nginx]:
    """nginx serving the front-controller app (every non-file URL -> /index.php)."""
    make = partial(Nginx, php_fpm.address, FRONTCONTROLLER_ROOT, style="front_controller")
    with serving(make) as n:
        yield n
