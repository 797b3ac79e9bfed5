#!/usr/bin/env bash
# Set up the environment and start the platform on embedded SQLite with demo data; prints the URL it serves.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv==0.13.8
export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --quiet
exec uv run essc demo "$@"
