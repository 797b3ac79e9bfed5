#!/usr/bin/env bash
# Set up the environment, check lint and types, and run the whole test suite
# (SQLite always; PostgreSQL and Redis when their URLs are set).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv==0.13.8
export UV_PYTHON_DOWNLOADS=never
# The browser test drives Debian's Chromium through Playwright; Playwright never downloads a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
    elif command -v sudo >/dev/null 2>&1; then
        (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
    fi
fi
uv sync --frozen --quiet
uv run ruff check --quiet src tests bench
uv run ruff format --check --quiet src tests bench
uv run mypy
uv run lint-imports
uv run pytest -q -p no:cacheprovider -n 2 "$@"
