"""Real processes for tests that need them: gunicorn app servers and a private PostgreSQL.

Shared by the several-servers, crash-safety and soak tests. Everything is started on free
loopback ports and stopped (or killed) by the test; nothing outlives it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path("/usr/lib/postgresql").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(database_url: str, instance: Path, **extra: str) -> dict:
    """The environment of an app process: the test's database and instance folder, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_DATABASE_URL=database_url, VAULT_INSTANCE_PATH=str(instance), VAULT_LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def flask_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)


def seed_demo(env: dict) -> dict:
    """Migrate and run ``vault demo --json``: a customer, a vendor app, a grant and a token."""
    flask_cli(env, "vault", "db", "upgrade")
    return json.loads(flask_cli(env, "vault", "demo", "--json").stdout)


class Gunicorn:
    """One gunicorn master serving the app on a free port."""

    def __init__(self, env: dict, log_path: Path, *, workers: int = 1, app: str = "wsgi:app"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
             "--graceful-timeout", "2", "--timeout", "30", app],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def __enter__(self) -> "Gunicorn":
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, seconds: float = 60) -> "Gunicorn":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn at {self.base} exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or busy booting
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn at {self.base} did not become ready")

    def workers(self) -> list[int]:
        """The worker pids (children of the master), read from /proc."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (so it can be killed without harming anyone else)."""

    def __init__(self):
        # pytest's tmp folders are private to root; the server runs as "postgres", so it gets its own
        folder = Path(tempfile.mkdtemp(prefix="vv-pg-"))
        self.folder = folder
        self.data = folder / "pgdata"
        self.sockets = folder / "pgsock"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.sockets.mkdir(exist_ok=True)
        for path in (folder, self.sockets):
            os.chown(path, _postgres_uid(), -1)
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "root",
                        "--no-instructions"], user="postgres", check=True, capture_output=True)
        self._log = open(folder / "postgres.log", "ab")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://root@127.0.0.1:{self.port}/postgres"

    def start(self, seconds: float = 30) -> "PrivatePostgres":
        deadline = time.monotonic() + seconds
        while True:
            self.process = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sockets),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on"],
                user="postgres", stdout=self._log, stderr=subprocess.STDOUT)
            if self._ready(deadline):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("private PostgreSQL did not start")
            time.sleep(0.5)  # e.g. the shared memory of a killed server is still held by a dying backend

    def _ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            check = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"])
            if check.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would; its backends notice and exit."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _postgres_uid() -> int:
    import pwd
    return pwd.getpwnam("postgres").pw_uid


def can_run_private_postgres() -> bool:
    if PG_BIN is None or os.geteuid() != 0:
        return False
    try:
        _postgres_uid()
    except KeyError:
        return False
    return True
