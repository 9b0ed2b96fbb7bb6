"""A real Alertmanager (Debian's prometheus-alertmanager) on a free port, for tests.

`.ci/run` installs the package; where the binary is missing the tests that need it skip and
say so (CI fails on no skip of these: see .ci/run)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BINARIES = ("prometheus-alertmanager", "alertmanager")


def binary() -> str | None:
    return next((found for name in BINARIES if (found := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def push(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus does."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        response.raise_for_status()


def config(webhook_url: str, token: str, max_alerts: int = 0) -> str:
    return f"""\
route:
  receiver: warroom
  group_by: [alertname, service]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
        max_alerts: {max_alerts}
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@contextlib.contextmanager
def running_alertmanager(
    folder: Path, webhook_url: str, token: str, *, max_alerts: int = 0
) -> Iterator[Alertmanager]:
    path = binary()
    assert path is not None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(config(webhook_url, token, max_alerts))
    port = free_port()
    log = folder / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                path,
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip: one instance
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Alertmanager(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Alertmanager) -> None:
    # Start-up of another process: poll its readiness endpoint (our own code never sleeps).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"alertmanager not ready in 20 s: {server.log.read_text()[-2000:]}")
