"""ASGI entry point for servers with several workers: each worker builds its platform from ESSC_ settings."""

from __future__ import annotations

from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.web.app import create_app
from essc.wiring import register_handlers

register_handlers()
app = create_app(build_platform(Settings()))
