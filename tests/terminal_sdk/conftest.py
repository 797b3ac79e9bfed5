"""Fixtures of the terminal SDK tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from terminal_scene import Scene, build_scene

from essc.core.platform import Platform


@pytest.fixture
def scene(platform: Platform, tmp_path: Path) -> Iterator[Scene]:
    the_scene = build_scene(platform, tmp_path)
    yield the_scene
    for device in the_scene.opened:
        device.close()
