"""`essc demo` as a newcomer meets it: a line per request, and the README's first e-card runs against it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from essc.ops.serve import server_config

DEMO_COMMAND = "from essc.cli import main; main()"  # `essc`, under this interpreter
README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True, slots=True)
class Demo:
    url: str
    folder: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`essc demo --holders 20 --port N` in a folder of its own, as README's two commands start it."""
    folder = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": f"sqlite:///{folder / 'essc.db'}",
        "ESSC_KEYSTORE_PATH": str(folder / "keys"),
    }
    env.pop("ESSC_REDIS_URL", None)
    log_path = folder / "demo.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", DEMO_COMMAND, "demo", "--holders", "20", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield Demo(url, folder, log_path)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_only_the_demo_asks_for_an_access_log() -> None:
    assert server_config(1).access_log is False
    demo = server_config(1, access_log=True)
    assert demo.access_log is True
    assert demo.log_level == "info"


def test_the_demo_prints_an_access_log_line_per_request(demo: Demo) -> None:
    assert httpx.get(f"{demo.url}/v1/regions", timeout=5).status_code == 200
    time.sleep(0.5)  # the line is written after the answer
    output = demo.log.read_text()
    assert f"{demo.url}/" in output
    assert '"GET /healthz HTTP/1.1" 200' in output
    assert '"GET /v1/regions HTTP/1.1" 200' in output


def test_the_readme_issues_an_e_card_and_resolves_its_svg_code(demo: Demo) -> None:
    section = README.read_text(encoding="utf-8").split("## First minutes", 1)[1]
    found = re.search(r"```python\n(.*?)\n```", section, re.DOTALL)
    assert found is not None
    script = found[1].replace("http://127.0.0.1:8000", demo.url)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=demo.folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sign_no, masked = done.stdout.splitlines()[0].split(" ", 1)
    assert sign_no
    assert "*" in masked
    assert done.stdout.splitlines()[1] == masked  # the counter learns the same masked name
