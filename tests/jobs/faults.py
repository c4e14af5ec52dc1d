"""Fault tools for the job engine's tests and bench/faults.py: a private Redis we may stop and
restart without persistence, a TCP proxy in front of PostgreSQL we may cut (the shared servers are
never touched), and `govhost worker` processes (optionally in their own UTS namespace, so with
another hostname, as on another machine)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRATCH = ("--save", "", "--appendonly", "no")  # no persistence: a restart comes back empty


class RedisServer:
    """Our own redis-server on a free port, without persistence (a restart empties it); with `conf`
    (a config file such as deploy/redis/govhost.conf) that file's settings instead, and `bind` the
    addresses it listens on (127.0.0.1 first); `extra` more arguments (e.g. --requirepass)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        conf: Path | None = None,
        bind: tuple[str, ...] = (),
        extra: tuple[str, ...] = (),
    ):
        self.port = port or free_port()
        self.dir = workdir
        self.conf = conf
        self.bind = ("127.0.0.1", *bind)
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        head = [str(self.conf)] if self.conf else []
        persistence = () if self.conf else SCRATCH
        self.proc = subprocess.Popen(
            [
                "redis-server",
                *head,
                "--port",
                str(self.port),
                "--bind",
                *self.bind,
                *persistence,
                "--dir",
                str(self.dir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as c:
                c.sendall(b"PING\r\n")
                if c.recv(64).startswith((b"+PONG", b"-NOAUTH")):  # up (with a password: up and asking for it)
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # like a crash: nothing saved
            self.proc.wait()
        self.proc = None


class TcpProxy:
    """127.0.0.1:<port> -> target; `cut()` drops every connection and refuses new ones until
    `restore()`: to the client it is the server going away."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = free_port()
        self.up = threading.Event()
        self.up.set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.listen_host, self.port))
        s.listen(64)
        s.settimeout(0.2)
        self._listener = s

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, 2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while self.up.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def url(self, database_url: str) -> str:
        """The same database URL, through this proxy."""
        prefix, rest = database_url.split("@", 1)
        _hostport, _, dbname = rest.partition("/")
        return f"{prefix}@{self.listen_host}:{self.port}/{dbname}"

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()


def worker_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


class Workers:
    """`govhost worker` processes; `start(cfg, hostname=...)` runs one in its own UTS namespace."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, config: Path, hostname: str | None = None) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "panel.cli.main", "--config", str(config), "worker"]
        if hostname:  # another hostname, as another machine would have (same pid space: we can kill it)
            cmd = [shutil.which("unshare"), "-u", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *cmd]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.logdir / f"worker{len(self.procs)}.log", "w") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=ROOT
            )
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.logdir / f"worker{index}.log").read_text(errors="replace")

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its children (ansible), like the OOM killer or a power cut."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
