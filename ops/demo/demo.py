"""The demo: PHP-FPM with the demo legacy app, strangler in front, nginx beside it.

Starts everything on free loopback ports, sends a few requests through both
strangler and nginx so the answers can be compared on screen, prints the URLs
to try, and runs until Ctrl-C (or ``--once``: exit after the tour).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ops.services import Nginx, PhpFpm, Strangler, Tansu

HERE = Path(__file__).resolve().parent
APP = HERE / "app" / "public"
VALID = {"type": "signup", "user_id": 42, "email": " Ada@Example.org ", "age": 36, "country": "gb"}
INVALID = {"type": "signup", "user_id": 0, "email": "nope", "age": 7, "country": "XX"}
LOGIN = {"type": "login", "user_id": 42, "method": "passkey", "ip": "192.0.2.7"}
BATCH = {"events": [VALID, INVALID, LOGIN]}
TOUR = [  # method, path through strangler, the same request's path on nginx, body, what
    ("GET", "/", "/", None, "home page (PHP, per-path scripts)"),
    ("GET", "/assets/style.css", "/assets/style.css", None, "static file, as nginx served it"),
    ("GET", "/info.php/extra/path?x=1", "/info.php/extra/path?x=1", None, "PATH_INFO split"),
    ("POST", "/validate.php", "/validate.php", VALID, "canary: PHP or Python, sticky by X-User"),
    ("POST", "/validate.php", "/validate.php", INVALID, "canary: an invalid event -> 422"),
    ("POST", "/api/v2/validate", "/validate.php", VALID, "migrated: the Python port, to Kafka"),
    (
        "POST",
        "/api/v2/validate-batch",
        "/validate_batch.php",
        BATCH,
        "migrated batch: 2 of 3 accepted, 2 messages",
    ),
    ("GET", "/form.php", "/form.php", None, "legacy: the form is still PHP"),
    (
        "GET",
        "/quote.php?sku=A-7&qty=3",
        "/quote.php?sku=A-7&qty=3",
        None,
        "shadow: PHP answers, Python compared",
    ),
    ("GET", "/conf/secret.ini", "/conf/secret.ini", None, "denied path -> 403 (route status)"),
    ("GET", "/home", "/home", None, "fixed redirect (route status 301)"),
    ("GET", "/missing.php", "/missing.php", None, "missing script -> 404"),
]


def fetch(url: str, method: str, body: object) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-User", "demo-user-7")
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def tour(proxy: str, nginx: str) -> None:
    urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))
    print(f"\n{'request':<34} {'strangler':>9} {'nginx':>6} {'body':>6}  what")
    for method, path, nginx_path, body, what in TOUR:
        ours, our_body = fetch(proxy + path, method, body)
        theirs, their_body = fetch(nginx + nginx_path, method, body)
        same = "same" if our_body == their_body else "differs"
        print(f"{method + ' ' + path:<34} {ours:>9} {theirs:>6} {same:>6}  {what}")
    print(
        "(403 and 301 come from strangler routes, which the nginx beside it does not have;\n"
        " info.php prints each server's own port, and error pages name their server)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="exit after the tour")
    args = parser.parse_args()
    print("demo: starting PHP-FPM, a Kafka broker, nginx and strangler on loopback ...")
    with PhpFpm(max_children=8) as fpm, Tansu() as kafka:
        config = demo_config(fpm.address, kafka.address, kafka.tmp / "spool")
        with (
            Nginx(fpm.address, APP, style="per_path", deny=["/conf/"]) as nginx,
            Strangler(config) as proxy,
        ):
            try:
                tour(proxy.url, nginx.url)
                for qty in range(1, 30):  # some shadow traffic for the dashboard
                    fetch(f"{proxy.url}/quote.php?sku=B-{qty % 5}&qty={qty}", "GET", None)
                show_shadow_report(kafka.tmp / "shadow.sqlite")
            except OSError as exc:
                print(f"demo: request failed: {exc}\n--- strangler log ---\n{proxy.log_tail()}")
                return 1
            messages = count_messages(kafka.address)
            print(f"""
strangler   {proxy.url}/          (the proxy; compare with nginx below)
nginx       {nginx.url}/          (the reference: same PHP-FPM, same app)
admin       {proxy.admin_url}/routes   /health  /ready  /metrics   (POST /reload)
shadow      {proxy.admin_url}/shadow   (live diff dashboard; quote.php is in shadow mode)
            .venv/bin/strangler report --store {kafka.tmp / "shadow.sqlite"}
kafka       {kafka.address}  (topic validated-events: one message per accepted event,
            {messages} so far)
try         curl -si {proxy.url}/form.php
            curl -si -X POST -H 'Content-Type: application/json' -H 'X-User: alice' \\
                 -d '{json.dumps(VALID)}' {proxy.url}/validate.php
config      {proxy.config_path}  (edit it, then: curl -X POST {proxy.admin_url}/reload)
logs        {proxy.tmp}/output.log""")
            if args.once:
                return 0
            print("\nrunning; Ctrl-C stops everything")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("\ndemo: stopping")
    return 0


def count_messages(bootstrap: str) -> int:
    """The messages on the validated-events topic (the migrated routes' and the canary's)."""
    from ops.bench._migrated import count_topic

    return count_topic(bootstrap, idle=1.0, limit=10.0)


def show_shadow_report(store: Path) -> None:
    """Print what shadow mode found for quote.php (the store is written every 0.5 s)."""
    from shadow import report_main

    time.sleep(1.5)
    print("\nshadow report (strangler report --store ...):")
    report_main(["--store", str(store)])
    print(
        "(the first quotes mismatch on quote_id and quoted_at until shadow mode has asked\n"
        " PHP twice for the same quote and learned those fields as noise)"
    )


def demo_config(php_fpm: str, kafka: str, spool: Path) -> str:
    """ops/demo/strangler.toml with the addresses of this run filled in."""
    text = (HERE / "strangler.toml").read_text()
    text = text.replace("{php_fpm}", php_fpm).replace("{kafka}", kafka)
    text = text.replace("{spool}", str(spool))
    text = text.replace("{shadow_store}", str(spool.parent / "shadow.sqlite"))
    # the launcher writes the file elsewhere: make the relative paths absolute
    text = text.replace('"app/public"', json.dumps(str(APP)))
    return text.replace('"file://app/rules.json"', json.dumps(f"file://{HERE}/app/rules.json"))


if __name__ == "__main__":
    sys.exit(main())
