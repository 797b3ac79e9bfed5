"""`essc demo` serves the demo and prints a line per request, so a newcomer sees what reaches the platform."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from essc.ops.serve import server_config

DEMO_COMMAND = "from essc.cli import main; main()"  # `essc`, under this interpreter


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_only_the_demo_asks_for_an_access_log() -> None:
    assert server_config(1).access_log is False
    demo = server_config(1, access_log=True)
    assert demo.access_log is True
    assert demo.log_level == "info"


def test_the_demo_prints_an_access_log_line_per_request(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": f"sqlite:///{tmp_path / 'essc.db'}",
        "ESSC_KEYSTORE_PATH": str(tmp_path / "keys"),
    }
    env.pop("ESSC_REDIS_URL", None)
    log = (tmp_path / "demo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", DEMO_COMMAND, "demo", "--holders", "20", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/regions", timeout=5).status_code == 200
        time.sleep(0.5)  # the log line is written after the answer
        output = (tmp_path / "demo.log").read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert f"http://127.0.0.1:{port}/" in output
    assert '"GET /healthz HTTP/1.1" 200' in output
    assert '"GET /v1/regions HTTP/1.1" 200' in output
