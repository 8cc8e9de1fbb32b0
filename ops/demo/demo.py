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

from ops.services import Nginx, PhpFpm, Strangler

HERE = Path(__file__).resolve().parent
APP = HERE / "app" / "public"
VALID = {"type": "signup", "user_id": 42, "email": " Ada@Example.org ", "age": 36, "country": "gb"}
INVALID = {"type": "signup", "user_id": 0, "email": "nope", "age": 7, "country": "XX"}
TOUR = [
    ("GET", "/", None, "home page (PHP, per-path scripts)"),
    ("GET", "/assets/style.css", None, "static file, as nginx served it"),
    ("GET", "/info.php/extra/path?x=1", None, "PATH_INFO split"),
    ("POST", "/validate.php", VALID, "validator: valid event"),
    ("POST", "/validate.php", INVALID, "validator: invalid event -> 422"),
    ("GET", "/conf/secret.ini", None, "denied path -> 403 (route status)"),
    ("GET", "/home", None, "fixed redirect (route status 301)"),
    ("GET", "/missing.php", None, "missing script -> 404"),
]


def fetch(base: str, method: str, path: str, body: object) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(90).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(90).decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def tour(proxy: str, nginx: str) -> None:
    urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))
    print(f"\n{'request':<34} {'strangler':>9} {'nginx':>6}  what")
    for method, path, body, what in TOUR:
        ours, _ = fetch(proxy, method, path, body)
        theirs, _ = fetch(nginx, method, path, body)
        mark = "" if ours == theirs or path in ("/conf/secret.ini", "/home") else "  <- differs"
        print(f"{method + ' ' + path:<34} {ours:>9} {theirs:>6}  {what}{mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="exit after the tour")
    args = parser.parse_args()
    print("demo: starting PHP-FPM, nginx and strangler on loopback ...")
    with PhpFpm(max_children=8) as fpm:
        config = (HERE / "strangler.toml").read_text().replace("{php_fpm}", fpm.address)
        config = config.replace('"app/public"', json.dumps(str(APP)))
        with (
            Nginx(fpm.address, APP, style="per_path", deny=["/conf/"]) as nginx,
            Strangler(config) as proxy,
        ):
            nginx_url = f"http://{nginx.address}" if hasattr(nginx, "address") else nginx.url
            tour(proxy.url, nginx_url)
            print(f"""
strangler   {proxy.url}/          (the proxy; compare with nginx below)
nginx       {nginx_url}/          (the reference: same PHP-FPM, same app)
admin       {proxy.admin_url}/routes   /health  /ready  /metrics   (POST /reload)
try         curl -si {proxy.url}/form.php
            curl -si -X POST -H 'Content-Type: application/json' \\
                 -d '{json.dumps(VALID)}' {proxy.url}/validate.php
config      {proxy.config_path}  (edit it, then: curl -X POST {proxy.admin_url}/reload)
logs        {proxy.tmp}/""")
            if args.once:
                return 0
            print("\nrunning; Ctrl-C stops everything")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("\ndemo: stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
