"""The real HTTP server as a user runs it: ``cdrflow serve`` (and gunicorn when installed).

A database is migrated with ``cdrflow db upgrade``, a token made with ``cdrflow token create``,
the server started as a subprocess on a free port, a sample CDR POSTed with urllib, the answers
checked, and the server stopped. SQLite file always; PostgreSQL too when DATABASE_URL is set.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "cdrs" / "adhoc-de-berlin-ac-001.json"
STARTUP_SECONDS = 60


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDRFLOW_") and k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def cdrflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Server:
    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                status, _, _ = request("GET", self.base + "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"the server did not answer /healthz within {STARTUP_SECONDS}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self._log_file.closed:
            self._log_file.close()


def _has_gunicorn() -> bool:
    return importlib.util.find_spec("gunicorn") is not None


@pytest.fixture
def database(empty_db_url: str) -> str:
    up = cdrflow("db", "upgrade", "--database-url", empty_db_url)
    assert up.returncode == 0, up.stderr
    return empty_db_url


@pytest.fixture
def token(database: str) -> str:
    made = cdrflow("token", "create", "--client", "cpms", "--database-url", database)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture(params=["cdrflow-serve", pytest.param("gunicorn", marks=pytest.mark.slow)])
def server(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    if request.param == "gunicorn":
        if not _has_gunicorn():
            pytest.skip("gunicorn is not installed")
        argv = [sys.executable, "-m", "gunicorn", "server:create_app()", "-w", "2", "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "5"]
        env = _env(DATABASE_URL=database, CDRFLOW_CONFIG=str(ROOT),
                   CDRFLOW_REFERENCE=str(ROOT / "samples" / "reference"))
    else:
        argv = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--config", str(ROOT),
                "--reference", str(ROOT / "samples" / "reference"), "--database-url", database]
        env = _env()
    srv = Server(argv, env, port, tmp_path / f"{request.param}.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_post_a_cdr_to_the_running_server(server: Server, token: str):
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "X-Request-ID": "func-1"}
    body = SAMPLE.read_bytes()

    status, _, payload = request("POST", server.base + "/cdrs", body, {"Content-Type": "application/json"})
    assert status == 401 and json.loads(payload)["status_code"] == 2000

    status, response_headers, payload = request("POST", server.base + "/cdrs", body, headers)
    assert status == 201, payload
    answer = json.loads(payload)
    [result] = answer["results"]
    assert (result["outcome"], result["stream"]) == ("new", "adhoc")
    assert response_headers["X-Request-ID"] == "func-1"
    assert result["location"].startswith(server.base + "/cdrs/DE/VLT/")

    status, _, payload = request("POST", server.base + "/cdrs", body, headers)
    assert status == 200 and json.loads(payload)["results"][0]["outcome"] == "duplicate"

    status, _, payload = request("GET", result["location"], headers=headers)
    assert status == 200 and json.loads(payload)["stream"] == "adhoc"

    encoded = base64.b64encode(token.encode()).decode()
    ocpi_headers = {"Authorization": f"Token {encoded}", "Content-Type": "application/json"}
    status, response_headers, payload = request("POST", server.base + "/ocpi/2.2.1/cdrs", body, ocpi_headers)
    assert status == 200 and json.loads(payload)["status_code"] == 1000  # the same CDR: idempotent
    status, _, payload = request("GET", response_headers["Location"], headers=ocpi_headers)
    assert status == 200 and json.loads(payload)["data"]["id"] == json.loads(body)["id"]

    status, _, payload = request("GET", server.base + "/openapi.json")
    assert status == 200 and json.loads(payload)["openapi"].startswith("3.1")

    server.stop()
    log = server.output()
    assert "POST /cdrs 201" in log and "client=cpms request_id=func-1" in log


def test_serve_refuses_an_unmigrated_database(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(free_port()), "--config", str(ROOT),
         "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cdrflow db upgrade" in result.stderr
