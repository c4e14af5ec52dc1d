"""Mail benchmark on one lab host, through govhost's real path, in one run:

(a) 1,000 mailboxes of one domain in ONE request (passwords hashed on the panel, one job, one
    playbook run: one module call for dovecot's users file, one postmap), timed from the call to
    mailbox_create() until an IMAP login of the last mailbox succeeds on the host.
(b) 10,000 mailboxes of the same domain as ten requests of 1,000 (rules.MAX_BATCH, what the bulk
    file import files), filed one after another and their jobs run, timed from the first
    mailbox_create() until an IMAP login of the last mailbox succeeds;
(c) the same work as a naive per-mailbox Ansible loop (lineinfile users file, lineinfile postfix
    map, postmap: per mailbox), measured on SAMPLE mailboxes and extrapolated per mailbox; the
    figure is (naive per mailbox x 1,000) / (a).

Run as root with no arguments: `python bench/mailboxes.py`. Lab host mbench = 10.77.0.243;
SQLite database in a temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench._common import boot_fresh, lab_settings
from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import MailDomain
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job, JobEvent
from panel.models.quotas import QuotaLimit
from panel.models.requests import Request
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services import requests
from panel.services.actor import actor_for_user, system_actor
from provisioners import lab as L
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec, Target
from tests.support.clients import imap

HOST, IP = "mbench", L.lab_ip(243)  # .243 of the lab block (GOVHOST_LAB_NET)
DOMAIN = "bench.gov.test"
BATCH, SAMPLE, BIG = 1000, 20, 10_000
PASSWORD = "Bench-pass-2024!"  # noqa: S105 (a lab mailbox)
BENCH_DIR = Path(__file__).resolve().parent


def _user(s, org: Organization, name: str, role: Role) -> User:
    user = User(username=name, email=f"{name}@bench.invalid", full_name=name, password_hash="x")  # noqa: S106
    s.add(user)
    s.flush()
    s.add(Membership(user_id=user.id, org_id=org.id, role=role))
    s.flush()
    return user


def setup(tmp: Path):
    settings = boot_fresh(lab_settings(tmp))
    with db.unit_of_work() as s:
        host = Host(
            name=HOST,
            address=IP,
            host_key_type="ssh-ed25519",
            host_key=L.base_host_key(),
            fingerprint="bench",
            capacities={"mailboxes": 20_000},
        )
        host.roles = {"mail"}
        dc = Organization(slug="dc", name="Data Center", kind=OrgKind.DATACENTER)
        org = Organization(slug="mb", name="Bench Ministry", kind=OrgKind.MINISTRY)
        s.add_all([host, dc, org])
        s.flush()
        s.add(
            DomainClaim(org_id=org.id, domain=DOMAIN, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow())
        )
        s.add_all(
            [
                QuotaLimit(org_id=org.id, resource="mailboxes", limit=20_000),
                QuotaLimit(org_id=org.id, resource="mail_storage_mb", limit=10**9),
            ]
        )
        admin, op = _user(s, org, "mbadmin", Role.ORG_ADMIN), _user(s, dc, "mbop", Role.OPERATOR)
        actors = actor_for_user(admin, surface="cli"), actor_for_user(op, surface="cli")
    return settings, host, actors


def run_jobs(settings, request_id: int | None = None) -> None:
    with db.unit_of_work() as s:
        stmt = select(Job.id).where(Job.status == "pending")
        ids = list(s.scalars(stmt if request_id is None else stmt.where(Job.request_id == request_id)))
    for job_id in ids:
        status = run_job(job_id, settings)
        if status != "successful":
            with db.unit_of_work() as s:
                job = s.get(Job, job_id)
                raise SystemExit(f"job {job.kind} {status}: {job.explanation} {job.traceback[-1500:]}")


def prepare_host(settings, host: Host, admin, op) -> MailDomain:
    # The host as in production (auth_failure_delay 2 s): the first login must succeed, not retry.
    mail_svc.jobs_svc.job_submit(
        system_actor("cli", "bench"), kind="mail.server", org_id=None, host_ids=[host.id], params={}
    )
    run_jobs(settings)
    req = mail_svc.mail_domain_create(admin, org_id=next(iter(admin.org_ids)), name=DOMAIN, contact=f"it@{DOMAIN}")
    requests.request_approve(op, req.id)
    run_jobs(settings, req.id)
    with db.unit_of_work() as s:
        return s.scalars(select(MailDomain).where(MailDomain.name == DOMAIN)).one()


def can_login(address: str) -> bool:
    box = imap(IP, 993, use_ssl=True)
    try:
        box.login(address, PASSWORD)
    except imaplib.IMAP4.error:
        box.shutdown()
        return False
    box.logout()
    return True


def timeline(request_id: int, t0: dt.datetime, marks: dict[str, dt.datetime]) -> None:
    """Stage timestamps (s after the call to mailbox_create): request, job, playbook tasks, login.

    Task lines carry Ansible's own event stamps; the gap from playbook_on_stats to "job finished" is
    mostly ansible-playbook exiting and its last events reaching the runner.
    """
    with db.unit_of_work() as s:
        req = s.get(Request, request_id)
        job = s.scalars(select(Job).where(Job.request_id == request_id)).one()
        events = s.execute(
            select(JobEvent.event, JobEvent.task, JobEvent.created_at)
            .where(JobEvent.job_id == job.id)
            .order_by(JobEvent.counter)
        ).all()
        rows = [
            ("request created", req.created_at),
            ("request decided", req.decided_at),
            ("job created", job.created_at),
            ("job started", job.started_at),
        ]
        rows += [
            (f"  {ev} {task}".rstrip(), at)
            for ev, task, at in events
            if ev in ("playbook_on_start", "playbook_on_task_start", "runner_on_ok", "playbook_on_stats")
        ]
        rows += [("job finished", job.finished_at), *marks.items()]
    for label, at in rows:
        at = at if at is None or at.tzinfo else at.replace(tzinfo=dt.UTC)
        print(f"stage: {(at - t0).total_seconds():7.3f} s  {label}" if at else f"stage:       -  {label}")


def batch(settings, admin, dom: MailDomain) -> float:
    boxes = [{"local_part": f"user{i:04d}", "password": PASSWORD} for i in range(BATCH)]
    t0, started = db.utcnow(), time.monotonic()
    req = mail_svc.mailbox_create(admin, domain_id=dom.id, mailboxes=boxes, quota_mb=100)
    marks = {"mailbox_create returned": db.utcnow()}
    run_jobs(settings, req.id)
    marks["run_jobs returned"] = db.utcnow()
    last, tries = f"user{BATCH - 1:04d}@{DOMAIN}", 1
    while not can_login(last):
        if time.monotonic() - started > 600:
            raise SystemExit(f"{last} cannot log in")
        tries += 1
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    marks[f"IMAP login ok (attempt {tries})"] = db.utcnow()
    timeline(req.id, t0, marks)
    return elapsed


def big_batch(settings, admin, dom: MailDomain) -> float:
    """BIG mailboxes as requests of BATCH each (one job each), from the first call to the last login."""
    started, ids = time.monotonic(), []
    for n in range(BIG // BATCH):
        boxes = [{"local_part": f"big{n:02d}x{i:04d}", "password": PASSWORD} for i in range(BATCH)]
        t = time.monotonic()
        ids.append(mail_svc.mailbox_create(admin, domain_id=dom.id, mailboxes=boxes, quota_mb=100).id)
        created = time.monotonic()
        run_jobs(settings, ids[-1])
        print(
            f"stage: {time.monotonic() - started:7.3f} s  request {n + 1}: created in {created - t:.2f} s, "
            f"its job in {time.monotonic() - created:.2f} s"
        )
    last = f"big{BIG // BATCH - 1:02d}x{BATCH - 1:04d}@{DOMAIN}"
    while not can_login(last):
        if time.monotonic() - started > 1800:
            raise SystemExit(f"{last} cannot log in")
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    print(f"stage: {elapsed:7.3f} s  IMAP login ok ({last})")
    return elapsed


def naive_loop(settings, tmp: Path) -> float:
    """SAMPLE mailboxes the naive way (3 tasks per mailbox); hashing excluded (it favours the loop)."""
    hashes = pw.hash_many([PASSWORD] * SAMPLE)
    boxes = [{"address": f"loop{i:03d}@{DOMAIN}", "hash": h} for i, h in enumerate(hashes)]
    target = Target(
        name=HOST, address=IP, host_key_type="ssh-ed25519", host_key=L.base_host_key(), source_address=L.GATEWAY
    )
    spec = PlaybookSpec(
        playbook="mailboxes_naive_loop.yml",
        project_dir=str(BENCH_DIR),
        ssh_key=settings.ansible.ssh_key,
        extravars={"boxes_public": [b["address"] for b in boxes]},
        control_dir=str(L.lab_paths().cp),
    )
    started = time.monotonic()
    result = run_playbook(
        spec,
        [target],
        timeout=900,
        secrets={"boxes_hashes": "\n".join(f"{b['address']}:{b['hash']}" for b in boxes)},
        workdir_parent=str(tmp / "jobs"),
    )
    if not result.ok:
        raise SystemExit(f"naive loop failed: {result.explanation}")
    elapsed = time.monotonic() - started
    if not can_login(f"loop{SAMPLE - 1:03d}@{DOMAIN}"):
        raise SystemExit("the naive loop's mailbox cannot log in")
    return elapsed


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-mailbench-"))
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{HOST}={IP}"], fresh=True)
        settings, host, (admin, op) = setup(tmp)
        dom = prepare_host(settings, host, admin, op)
        batch_s = batch(settings, admin, dom)
        big_s = big_batch(settings, admin, dom)
        loop_s = naive_loop(settings, tmp)
        per_box = loop_s / SAMPLE
        print(f"batch: {BATCH} mailboxes in {batch_s:.2f} s (request -> IMAP login of the last one)")
        print(
            f"naive loop: {SAMPLE} mailboxes in {loop_s:.2f} s = {per_box:.3f} s per mailbox "
            f"-> {per_box * BATCH:.0f} s for {BATCH} (extrapolated)"
        )
        print(f"{BIG} mailboxes as {BIG // BATCH} requests of {BATCH}: {big_s:.2f} s")
        print(f"figure: mailboxes_1000_batch_s = {batch_s:.2f} s")
        print(f"figure: mailboxes_10000_batch_s = {big_s:.2f} s")
        print(f"figure: mailboxes_batch_vs_loop_ratio = {per_box * BATCH / batch_s:.1f} x")
    finally:
        db.remove()
        L.close_control_sockets(IP)
        L.hosts_down([HOST], forget=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
