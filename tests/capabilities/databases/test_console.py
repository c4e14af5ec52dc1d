"""The web console's panel side without the lab: who may open one, what its job carries (the
ticket's digest, never the ticket or a password), the audit entry, the page, the API and the CLI,
and the sweep's closing jobs. The sign-on itself runs on the lab (test_console_lab.py)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases import sweeps
from panel.capabilities.databases.models import ConsoleStatus, DbConsole
from panel.errors import Conflict, Forbidden, NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.tenants import OrgKind, Role
from panel.services.actor import system_actor
from tests.capabilities.databases.test_surfaces import two  # noqa: F401 (fixture)
from tests.support.fixtures import csrf_from


@pytest.fixture
def consoled(two):
    with db.unit_of_work() as s:
        host = s.get(Host, two.host.id)
        host.facts = {**(host.facts or {}), "db_console": ["mariadb"]}
    return two


def _open_jobs() -> list[Job]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job).where(Job.kind == "databases.console").order_by(Job.id)))


def test_open_files_a_session_whose_job_carries_only_the_digest_and_is_audited(make, consoled):
    aa = make.actor_of(consoled.ua)
    opened = db_svc.db_console_open(aa, user_id=consoled.ids["ua"])
    assert opened.url == "https://10.77.0.250:8443/signon/mariadb.php" and len(opened.ticket) == 43
    (job,) = _open_jobs()
    assert job.params == {"op": "open", "console_ids": [opened.id]} and job.org_id == consoled.a.id
    with db.unit_of_work() as s:
        row = s.get(DbConsole, opened.id)
        assert row.status == ConsoleStatus.PENDING and row.job_id == job.id
        assert row.login == f"govhost_console_{row.id}"
        assert row.ticket_sha256 == hashlib.sha256(opened.ticket.encode()).hexdigest()
        assert dt.timedelta(minutes=4) < row.expires_at - db.utcnow() <= dt.timedelta(minutes=5)  # the default
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.console_open")).one()
        assert entry.object_id == str(row.id) and entry.org_id == consoled.a.id
        blob = repr(row.__dict__) + repr(job.__dict__) + repr(entry.__dict__)
    assert opened.ticket not in blob


def test_another_ministry_staff_readonly_and_unset_hosts_are_refused(make, consoled):
    ab = make.actor_of(consoled.ub)
    with pytest.raises(NotFound):  # as for a user that does not exist
        db_svc.db_console_open(ab, user_id=consoled.ids["ua"])
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dcc")
    op = make.actor_of(make.make_user(Role.OPERATOR, dc))
    with pytest.raises(Forbidden) as err:  # staff do not sign on to a ministry's data
        db_svc.db_console_open(op, user_id=consoled.ids["ua"])
    assert err.value.key == "databases.console_ministry_only"
    with db.unit_of_work() as s:
        host = s.get(Host, consoled.host.id)
        host.facts = {**host.facts, "db_console": []}
    with pytest.raises(Conflict) as err:
        db_svc.db_console_open(make.actor_of(consoled.ua), user_id=consoled.ids["ua"])
    assert err.value.key == "databases.console_not_set_up"
    assert _open_jobs() == []


def test_web_api_and_cli_open_the_same_session(login_as, client, token_for, cli, consoled):
    c = login_as(consoled.ua)
    page = c.get(f"/databases/users/{consoled.ids['ua']}").get_data(as_text=True)
    assert "Open console" in page
    assert (
        c.post(f"/databases/users/{consoled.ids['ub']}/console", data={"csrf_token": csrf_from(page)}).status_code
        == 404
    )
    r = c.post(f"/databases/users/{consoled.ids['ua']}/console", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302 and "/databases/consoles/" in r.headers["Location"]
    waiting = c.get(r.headers["Location"])
    assert waiting.headers["Cache-Control"] == "no-store" and 'http-equiv="refresh"' in waiting.get_data(as_text=True)
    console_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert login_as(consoled.ub).get(f"/databases/consoles/{console_id}").status_code == 404
    with db.unit_of_work() as s:  # as the job's end would
        s.get(DbConsole, console_id).move_to(ConsoleStatus.OPEN)
    ready = c.get(f"/databases/consoles/{console_id}").get_data(as_text=True)
    assert 'action="https://10.77.0.250:8443/signon/mariadb.php"' in ready and 'name="ticket"' in ready
    ticket = ready.split('name="ticket" value="', 1)[1].split('"', 1)[0]
    with db.unit_of_work() as s:
        assert s.get(DbConsole, console_id).ticket_sha256 == hashlib.sha256(ticket.encode()).hexdigest()
    # The form is offered once: the ticket left the session with it.
    assert 'name="ticket"' not in c.get(f"/databases/consoles/{console_id}").get_data(as_text=True)

    h = token_for(consoled.ua)
    assert client.post(f"/api/v1/databases/users/{consoled.ids['ub']}/console", headers=h).status_code == 404
    ro = token_for(consoled.ua, scope="read")
    assert client.post(f"/api/v1/databases/users/{consoled.ids['ua']}/console", headers=ro).status_code == 403
    r = client.post(f"/api/v1/databases/users/{consoled.ids['ua']}/console", headers=h)
    assert r.status_code == 201, r.json
    assert r.json["url"].endswith("/signon/mariadb.php") and len(r.json["ticket"]) == 43
    assert r.json["console"]["status"] == "pending" and r.json["job"]["kind"] == "databases.console"
    got = client.get(f"/api/v1/databases/consoles/{r.json['console']['id']}", headers=h)
    assert got.status_code == 200 and "ticket" not in got.json
    assert (
        client.get(f"/api/v1/databases/consoles/{r.json['console']['id']}", headers=token_for(consoled.ub)).status_code
        == 404
    )

    out = cli("databases", "console", f"mina{consoled.a.id}_app", "--as", consoled.ua.username)
    assert out.exit_code == 0, out.output
    assert out.output.strip().splitlines()[-1].startswith("https://10.77.0.250:8443/signon/mariadb.php?ticket=")
    out = cli("databases", "console", f"minb{consoled.b.id}_app", "--as", consoled.ua.username)
    assert out.exit_code != 0 and "not_found" in out.output
    assert len(_open_jobs()) == 3


def test_the_sweep_closes_expired_sessions_per_host_once_their_open_job_ended(make, consoled):
    aa, system = make.actor_of(consoled.ua), system_actor("worker", "test")
    first = db_svc.db_console_open(aa, user_id=consoled.ids["ua"])
    second = db_svc.db_console_open(aa, user_id=consoled.ids["ua"])
    assert sweeps.console_expire(system) == []  # none expired
    with db.unit_of_work() as s:
        for o in (first, second):
            s.get(DbConsole, o.id).expires_at = db.utcnow() - dt.timedelta(seconds=1)
    assert sweeps.console_expire(system) == []  # their open jobs have not run: closing first would race them
    with db.unit_of_work() as s:
        for o in (first, second):
            s.get(Job, o.job.id).status = JobStatus.SUCCESSFUL
            s.get(DbConsole, o.id).move_to(ConsoleStatus.OPEN)
    (job,) = sweeps.console_expire(system)  # one job for the host
    assert job.params == {"op": "close", "console_ids": [first.id, second.id]}
    assert sweeps.console_expire(system) == []  # already being closed


def test_the_server_job_gives_the_console_a_certificate_from_the_panels_ca(two):
    """databases.server sends the console and both engines a certificate the panel's CA signed for
    the host's name and address; its key goes only into the job's secrets."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from panel.jobs import capabilities
    from panel.services import jobs as jobs_svc
    from panel.services import pki

    job = jobs_svc.job_submit(
        system_actor("cli", "test"), kind="databases.server", org_id=None, host_ids=[two.host.id],
        params={"engines": ["postgresql"]},
    )  # fmt: skip
    with db.unit_of_work() as s:
        extravars, secrets, _ = capabilities.get("databases.server").build(s.get(Job, job.id), s)
    leaf, issuer = x509.load_pem_x509_certificates(extravars["nginx_console_tls_chain_pem"].encode())
    ca = x509.load_pem_x509_certificate(pki.ca_pem().encode())
    assert issuer == ca and leaf.issuer == ca.subject
    ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["10.77.0.250"]
    assert sans.get_values_for_type(x509.DNSName) == ["db1"]
    assert "PRIVATE KEY" in secrets["nginx_console_tls_key_pem"]
    assert "PRIVATE KEY" not in repr(extravars)
    # The engines serve the same certificate (clients verify them against the same CA and name).
    for role in ("mariadb", "postgresql"):
        assert extravars[f"{role}_tls_chain_pem"] == extravars["nginx_console_tls_chain_pem"]
        assert secrets[f"{role}_tls_key_pem"] == secrets["nginx_console_tls_key_pem"]
