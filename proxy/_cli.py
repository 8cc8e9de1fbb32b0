"""The ``strangler`` command.

    strangler serve --config FILE        run the proxy (supervisor + workers + admin)
    strangler check-config FILE          validate a file and print the compiled route table
    strangler routes --admin URL         what a running proxy routes where
    strangler spool replay --config FILE resend messages spooled while the broker was away
    strangler report --store FILE        shadow-diff report (table, --json, --html, --gate,
                                         --accept SIGNATURE --reason TEXT, --reopen)
    strangler replay --store FILE ...    rerun recorded requests through the current handler

Errors a user can fix (a bad config key, a port in use, an unreachable admin
URL) are printed as one line naming what failed, with exit status 1; there is
no traceback for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from ._config import Config, load_config
from ._config_reader import parse_duration
from ._exceptions import StranglerError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run a subcommand; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _SHADOW_TOOLS:  # they parse their own options
        return _shadow_tool(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StranglerError as exc:
        print(f"strangler: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strangler", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the proxy")
    serve.add_argument("--config", "-c", required=True, help="TOML configuration file")
    serve.set_defaults(func=_serve)
    check = sub.add_parser("check-config", help="validate a config file, print its routes")
    check.add_argument("config", help="TOML configuration file")
    check.add_argument("--json", action="store_true", help="print the route table as JSON")
    check.set_defaults(func=_check)
    routes = sub.add_parser("routes", help="show what a running proxy routes where")
    routes.add_argument("--admin", default="http://127.0.0.1:9901", help="admin listener URL")
    routes.add_argument("--token", default=os.environ.get("STRANGLER_ADMIN_TOKEN"))
    routes.set_defaults(func=_routes)
    spool = sub.add_parser("spool", help="the message spool of the shared producer")
    spool_sub = spool.add_subparsers(required=True, metavar="ACTION")
    replay = spool_sub.add_parser("replay", help="resend spooled messages now")
    replay.add_argument("--config", "-c", required=True, help="TOML configuration file")
    replay.set_defaults(func=_spool_replay)
    for name, about in _SHADOW_TOOLS.items():
        sub.add_parser(name, help=about)  # listed in --help; main() hands them their argv
    worker = sub.add_parser("worker")  # started by `serve`, not by people
    worker.add_argument("--config", required=True)
    worker.add_argument("--index", type=int, default=0)
    worker.add_argument("--fds", required=True)
    worker.set_defaults(func=_worker)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from ._supervisor import serve

    return serve(args.config)


def _worker(args: argparse.Namespace) -> int:
    from ._worker import run_worker

    run_worker(args.config, [int(fd) for fd in args.fds.split(",")], args.index)
    return 0


_SHADOW_TOOLS = {
    "report": "shadow-diff report: table, --json, --html FILE, --gate RATE, --accept SIG",
    "replay": "rerun recorded requests through the current handler",
}


def _shadow_tool(name: str, argv: list[str]) -> int:
    """``report`` and ``replay`` parse their own options (``strangler report --help``).

    ``report --since`` reads durations with the config's grammar, handed over
    here so that one parser owns it.
    """
    from shadow import replay_main, report_main

    if name == "report":
        return report_main(argv, parse_duration=parse_duration)
    return replay_main(argv)


def _spool_replay(args: argparse.Namespace) -> int:
    import anyio

    from migrated import replay_spool

    config = load_config(args.config)
    if config.kafka is None:
        print(f"strangler: error: {config.source}: no [kafka] table, so no spool", file=sys.stderr)
        return 1

    def progress(sent: int, left: int) -> None:
        print(f"\rreplayed {sent} messages, {left} left", end="", file=sys.stderr, flush=True)

    sent, left = anyio.run(lambda: replay_spool(config.kafka, progress=progress))  # type: ignore[arg-type]
    print(f"\nspool {config.kafka.spool_dir}: {sent} sent, {left} still spooled")
    return 0 if left == 0 else 2


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.json:
        print(json.dumps(_describe(config), indent=1))
        return 0
    print(f"{config.source}: OK")
    print(
        f"listen {', '.join(config.server.listen)}  workers {config.server.workers}  "
        f"runtime {config.server.runtime}  admin {config.admin.listen}"
    )
    for backend in config.backends:
        target = (
            getattr(backend, "address", None)
            or getattr(backend, "url", None)
            or getattr(backend, "root", "")
        )
        print(f"backend {backend.name:<12} {backend.type:<8} {target}")
    print("routes (first match wins):")
    for i, route in enumerate(config.routes.routes):
        print(f"  {i:>3}  {route.describe()}")
    return 0


def _describe(config: Config) -> dict[str, object]:
    return {
        "source": config.source,
        "routes": [
            {"name": r.name, "match": r.match.describe(), "mode": r.mode.name}
            for r in config.routes.routes
        ],
    }


def _routes(args: argparse.Namespace) -> int:
    url = args.admin.rstrip("/") + "/routes"
    request = urllib.request.Request(url)
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"strangler: error: cannot read {url}: {exc}", file=sys.stderr)
        return 1
    print(f"config {data['config']}")
    for i, route in enumerate(data["routes"]):
        name, match, mode = route["name"], route["match"], route["mode"]
        line = f"  {i:>3}  {name:<20} {match:<40} {mode:<8} {route['target']}"
        print(line + _canary_text(route) if mode == "canary" else line)
    return 0


def _canary_text(route: dict[str, Any]) -> str:
    """`` 25% (run-time; config 10%) forced by header x-canary, cookie canary``."""
    text = f" {route['percent']:g}%"
    if route["overridden"]:
        text += f" (run-time; config {route['config_percent']:g}%)"
    force = route["force"]
    if force:
        header = force["header"] and f"header {force['header']}"
        if header and force["custom_value"]:
            header += " (custom value)"
        cookie = force["cookie"] and f"cookie {force['cookie']}"
        text += " forced by " + ", ".join(p for p in (header, cookie) if p)
    return text
