"""The production shape, run whole (issue 21): nginx with TLS on a lab host (the shipped
deploy/nginx/govhost.conf) -> two `govhost serve` web processes (the shipped web unit's command) ->
PostgreSQL and a Redis started with the shipped deploy/redis/govhost.conf (AOF) -> two `govhost
worker` processes (the shipped worker unit's command): one on this machine, one in a network
namespace of its own on the lab bridge, so it reaches PostgreSQL, Redis and the managed hosts only
through the lab network, as a worker on another machine would. The schedule runs inside the
workers (no scheduler unit: docs/operations.md).

Through nginx over HTTPS, with a data-center admin's API token: both web processes answer,
/readyz is ready, /metrics is refused outside the monitoring network, a host is registered (its key
read from the live host), the local worker is drained and a host.ping request is approved by policy:
the namespaced worker runs its job over SSH and the host's probe is recorded; with `log.format:
json` nginx's request id is on the web's request line, the job and the worker's lines. One web
process stopped, nginx sends every request to the other; PostgreSQL cut, /readyz answers 503 through
nginx and recovers."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from panel import db
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.tenants import Role
from panel.services import jobs as jobs_svc
from panel.services.tokens import token_create
from provisioners import lab as L
from provisioners.ansible import close_masters
from tests.jobs.faults import ROOT, RedisServer, TcpProxy, free_port
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts

pytestmark = pytest.mark.lab
HOSTS = suite_hosts("topology")
DEPLOY = ROOT / "deploy"
GOVHOST = [sys.executable, "-m", "panel.cli.main"]  # what /opt/govhost/venv/bin/govhost runs


def unit_command(unit: str) -> list[str]:
    """The shipped unit's ExecStart, with the installed `govhost` replaced by this clone's."""
    text = (DEPLOY / "systemd" / unit).read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.+)$", text, re.M).group(1))
    assert argv[0] == "/opt/govhost/venv/bin/govhost", argv
    return GOVHOST + argv[1:]


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _tls(d: Path, ip: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "panel.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    crt, k = d / "panel.crt", d / "panel.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, k


def nginx_config(upstreams: list[str]) -> str:
    """The shipped file with what its header says to set: the upstream servers and the certificate."""
    text = (DEPLOY / "nginx" / "govhost.conf").read_text()
    lines = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*$", text, re.M)
    assert len(lines) == 2, lines  # two web processes in the shipped upstream
    for line, address in zip(lines, upstreams, strict=True):
        text = text.replace(line, line.replace(re.search(r"127\.0\.0\.1:\d+", line).group(0), address))
    return text.replace("/etc/ssl/govhost/", "/etc/nginx/govhost-tls/")


class Topology:
    """Processes of the run, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict, netns: str | None = None) -> subprocess.Popen:
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]  # exec: the worker keeps this pid
        with open(self.tmp / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, timeout: float = 90) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError):
            value = check()
            if value:
                return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.fixture
def lab_hosts():
    with own_lab_hosts(HOSTS) as hosts:
        yield hosts


def test_nginx_two_web_processes_postgresql_redis_and_two_workers_one_behind_the_lab(lab_hosts, booted, make, tmp_path):
    proxy_host, worker_net = lab_hosts["tpproxy"], lab_hosts["tpworker"]
    for host in lab_hosts.values():
        assert_lab_route(host.ip)
    topo = Topology(tmp_path)
    # PostgreSQL listens on loopback only: the lab side reaches it through a forwarder on the bridge
    # address (on real machines: listen_addresses and pg_hba for the panel's network).
    pg_port = int(booted.database.url.rsplit(":", 1)[1].split("/")[0])
    pg = TcpProxy(pg_port, listen_host=L.GATEWAY)
    cp_here = cp_there = ""
    password = secrets.token_hex(16)
    redis = RedisServer(
        tmp_path / "redis", conf=DEPLOY / "redis" / "govhost.conf", bind=(L.GATEWAY,), extra=("--requirepass", password)
    )
    try:
        redis.start()
        redis_url = f"redis://:{password}@{L.GATEWAY}:{redis.port}/0"
        raw = _plain(dataclasses.asdict(booted))
        raw.pop("source")
        raw["database"]["url"] = pg.url(booted.database.url)
        raw["queue"].update(backend="redis", redis_url=redis_url, lease_s=6, sweep_s=1, drain_s=20)
        raw["ansible"]["ssh_key"] = str(L.lab_key_path())
        # ssh's ControlPath sockets: short folders (a socket path is at most 107 bytes, and pytest's
        # tmp_path plus "root@ADDRESS:22" and ssh's temporary suffix went past it).
        cp_here, cp_there = tempfile.mkdtemp(prefix="gh-cp-"), tempfile.mkdtemp(prefix="gh-cp-")
        raw["ansible"]["control_dir"] = cp_here
        raw["log"] = {"format": "json"}  # what a log collector reads: request ids link the processes
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(raw))
        # The other machine: its own SSH control sockets, and connections leave from its own address.
        raw["ansible"]["control_dir"] = cp_there
        raw["network"]["source_address"] = worker_net.ip
        other = tmp_path / "config-worker2.yaml"
        other.write_text(yaml.safe_dump(raw))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVHOST_CONFIG": str(config)}

        # Redis runs with the shipped persistence.
        out = subprocess.run(
            ["redis-cli", "-p", str(redis.port), "-a", password, "--no-auth-warning", "CONFIG", "GET", "appendonly"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out == ["appendonly", "yes"]

        # Web: the shipped unit's command twice, on the bridge address (nginx is on another machine).
        web_cmd = unit_command("govhost-web.service")
        ports = [free_port(), free_port()]
        upstreams = [f"{L.GATEWAY}:{p}" for p in ports]
        for i, address in enumerate(upstreams):
            argv = [*web_cmd]
            argv[argv.index("--bind") + 1] = address
            argv[argv.index("--workers") + 1] = "2"
            topo.start(f"web{i}", argv, env)

        # Workers: the shipped unit's command, here and inside the lab network.
        worker_cmd = unit_command("govhost-worker.service")
        here = topo.start("worker-here", worker_cmd, env)
        there = topo.start("worker-there", worker_cmd, {**env, "GOVHOST_CONFIG": str(other)}, netns=worker_net.netns)

        # nginx with TLS on the proxy machine, the shipped site file.
        crt, key = _tls(tmp_path, proxy_host.ip)
        site = nginx_config(upstreams)
        L.host_exec(
            "tpproxy",
            "sh",
            "-c",
            "mkdir -p /etc/nginx/govhost-tls && cat > /etc/nginx/sites-enabled/govhost.conf && "
            "rm -f /etc/nginx/sites-enabled/default",
            input=site,
        )
        for name, path in (("fullchain.pem", crt), ("privkey.pem", key)):
            L.host_exec(
                "tpproxy", "sh", "-c", f"umask 077 && cat > /etc/nginx/govhost-tls/{name}", input=path.read_text()
            )
        checked = L.host_exec("tpproxy", "nginx", "-t", check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        L.host_exec("tpproxy", "nginx")

        tls = ssl.create_default_context(cafile=str(crt))
        base = f"https://{proxy_host.ip}"

        def call(method: str, path: str, body: dict | None = None, token: str | None = None):
            req = urllib.request.Request(  # noqa: S310  https to the lab proxy only
                base + path,
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={
                    **({"Authorization": f"Bearer {token}"} if token else {}),
                    **({"Content-Type": "application/json"} if body is not None else {}),
                },
            )
            try:
                with urllib.request.urlopen(req, context=tls, timeout=30) as r:  # noqa: S310
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        for port in ports:
            wait_for(lambda port=port: L.port_open(L.GATEWAY, port), 60, f"web process on port {port}")
        wait_for(lambda: call("GET", "/readyz")[0] == 200, 90, "the panel ready through nginx")
        # Plain HTTP is sent to HTTPS; HSTS on every answer.
        plain = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", f"http://{proxy_host.ip}/login"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert plain == f"301 https://{proxy_host.ip}/login", plain
        status, headers, body = call("GET", "/readyz")
        assert json.loads(body)["checks"] == {"database": "ok", "migrations": "ok", "queue": "ok"}
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        # Both web processes take requests (each logs its own access lines).
        for _ in range(40):
            assert call("GET", "/healthz")[0] == 200, L.host_exec("tpproxy", "tail", "/var/log/nginx/error.log").stdout
        hits = [topo.log(f"web{i}").count("GET /healthz") for i in (0, 1)]
        assert min(hits) >= 5, hits
        # /metrics: this machine is not the monitoring network of the shipped file.
        assert call("GET", "/metrics")[0] == 403

        # A data-center admin's token; both workers registered.
        admin = make.make_user(Role.ADMIN)
        _, token = token_create(make.actor_of(admin, "api"), name="topology", scope="write", days=1)
        alive = wait_for(
            lambda: (
                {w["pid"]: w for w in jobs_svc.worker_list(make.actor_of(admin)) if w["state"] == "alive"}
                if len([w for w in jobs_svc.worker_list(make.actor_of(admin)) if w["state"] == "alive"]) >= 2
                else None
            ),
            90,
            "two workers registered",
        )
        assert {here.pid, there.pid} <= set(alive), alive

        # Register the managed host through nginx: the web process reads its SSH key.
        status, _, body = call(
            "POST", "/api/v1/hosts", {"name": "tphost", "address": HOSTS["tphost"], "roles": []}, token
        )
        assert status == 201, body
        host_id = json.loads(body)["id"]

        # Drain the local worker: from now on only the worker behind the lab takes jobs.
        jobs_svc.worker_drain(make.actor_of(admin, "cli"), alive[here.pid]["id"])
        wait_for(
            lambda: (
                {w["id"]: w["state"] for w in jobs_svc.worker_list(make.actor_of(admin))}[alive[here.pid]["id"]]
                == "draining"
            ),
            30,
            "the local worker draining",
        )
        # The row says draining at once; the worker itself sees it at its next heartbeat, and says so.
        wait_for(lambda: "drained by an operator" in topo.log("worker-here"), 30, "the local worker paused")
        status, headers, body = call(
            "POST", "/api/v1/requests", {"kind": "host.ping", "payload": {"host_id": host_id}}, token
        )
        assert status in (200, 201), body
        rid = headers["X-Request-ID"]  # nginx's $request_id, kept by the panel

        def ping_done():
            with db.unit_of_work() as s:
                job = s.query(Job).filter(Job.kind == "host.ping").one_or_none()
                if job and job.status in (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.ERROR):
                    return job.status, job.worker, job.explanation
            return None

        status_, worker_id, explanation = wait_for(ping_done, 120, "the host.ping job")
        assert status_ == JobStatus.SUCCESSFUL, (explanation, topo.log("worker-there")[-3000:])
        assert worker_id.split("@")[0] == str(there.pid)  # the worker behind the lab ran it
        # One request id from nginx to the worker: the web's JSON request line, the job, the worker's lines.
        web_lines = [json.loads(x) for i in (0, 1) for x in topo.log(f"web{i}").splitlines() if x.startswith("{")]
        assert any(x.get("request_id") == rid and x.get("route") == "/api/v1/requests/" for x in web_lines), rid
        with db.unit_of_work() as s:
            job = s.query(Job).filter(Job.kind == "host.ping").one()
            assert job.trace_id == rid
            job_id = job.id
        worker_lines = [json.loads(x) for x in topo.log("worker-there").splitlines() if x.startswith("{")]
        assert any(x.get("job_id") == job_id and x.get("request_id") == rid for x in worker_lines)
        with db.unit_of_work() as s:
            host = s.get(Host, host_id)
            assert host.last_probe_ok is True
        # Its SSH went over the lab from its own address (the host's sshd log names the client).
        sshd = L.host_exec("tphost", "cat", "/var/log/sshd.log").stdout
        assert f"from {worker_net.ip}" in sshd, sshd[-2000:]

        # PostgreSQL away: /readyz through nginx says so (503 from both web processes, the database
        # check) while /healthz stays 200 (no restart loop); ready again once it is back.
        pg.cut()
        try:
            status, _, body = call("GET", "/readyz")
            assert status == 503 and json.loads(body)["checks"]["database"] != "ok", body
            assert call("GET", "/healthz")[0] == 200
        finally:
            pg.restore()
        wait_for(lambda: call("GET", "/readyz")[0] == 200, 60, "ready again after PostgreSQL came back")

        # One web process stopped: nginx takes every request to the other.
        assert topo.stop("web0", 60) == 0
        # nginx may still hold web1 as failed for fail_timeout if a request to it failed a moment ago
        # (a loaded machine): the first answer may take that long, then every one must be 200.
        wait_for(lambda: call("GET", "/readyz")[0] == 200, 15, "web1 answering through nginx alone")
        for _ in range(10):
            assert call("GET", "/readyz")[0] == 200
            assert call("GET", "/api/v1/hosts", token=token)[0] == 200

        # A systemd stop of the workers drains and exits 0.
        assert topo.stop("worker-there") == 0
        assert topo.stop("worker-here") == 0
        for name in ("worker-here", "worker-there", "web1"):
            assert "Traceback" not in topo.log(name), topo.log(name)[-3000:]
    finally:
        topo.stop_all()
        with contextlib.suppress(Exception):
            L.host_exec("tpproxy", "nginx", "-s", "stop", check=False)
        redis.stop()
        pg.close()
        for d in filter(None, (cp_here, cp_there)):
            with contextlib.suppress(Exception):
                close_masters(d)
            shutil.rmtree(d, ignore_errors=True)
