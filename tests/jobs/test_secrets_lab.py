"""A secret given to a job never appears in events, rows, the audit log, logs or files on disk."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from panel import db
from panel.jobs import capabilities
from panel.jobs.capabilities import Capability, host_targets, job_secrets
from panel.models.audit import AuditEntry
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec
from provisioners.redact import spellings
from tests.jobs.conftest import TEST_PLAYBOOKS, wait_job

pytestmark = pytest.mark.lab
SECRET = "S3cr3t-pässwörd/+?&=tail"
HOSTILE = "{{ lookup('pipe', 'id') }}"


def _build(job, session):
    return {"app_name": job.params["name"]}, {"app_password": job_secrets(job)["password"]}, host_targets(job, session)


CAP = Capability("test.secret", str(TEST_PLAYBOOKS / "secret.yml"), _build)


def _leaks(text: str) -> list[str]:
    return [form for form in spellings(SECRET) if form in text]


def _dump_rows(*rows) -> str:
    return "\n".join(
        repr({c.name: getattr(r, c.name) for c in r.__table__.columns if c.name != "secrets"}) for r in rows
    )


def test_secret_never_leaks(lab_host, consumer, booted, caplog):
    capabilities.register(CAP)
    caplog.set_level(logging.DEBUG)
    host = lab_host("jb1")
    job = jobs_svc.job_submit(
        system_actor("cli", "test"),
        kind="test.secret",
        org_id=None,
        host_ids=[host.id],
        params={"name": HOSTILE},
        secrets={"password": SECRET},
    )
    done = wait_job(job.id, timeout=90)
    assert done.status == JobStatus.SUCCESSFUL, done.explanation
    # it did reach the host, literally, and the hostile name was not templated
    conf = L.host_exec("jb1", "cat", "/root/app.conf").stdout
    assert conf == f"password={SECRET}\nname={HOSTILE}\n"

    with db.unit_of_work() as s:
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == job.id)).all()
        rows = _dump_rows(s.get(Job, job.id), *events, *s.scalars(select(AuditEntry)).all())
        sealed = s.get(Job, job.id).secrets
    assert SECRET not in sealed  # sealed at rest
    assert "b64=********" in rows and "url=********" in rows  # the encoded forms were masked
    assert HOSTILE in rows  # not a secret: shown as given
    assert _leaks(rows) == []
    assert _leaks(caplog.text) == []
    files = [p for p in Path(booted.data_dir).rglob("*") if p.is_file()]
    assert not list(Path(booted.data_dir, "jobs").iterdir())  # private data dirs are gone
    assert all(_leaks(p.read_bytes().decode("utf-8", "replace")) == [] for p in files)


def test_private_data_dir_holds_secret_only_in_its_0600_vars_file(lab_host, booted, tmp_path):
    host = lab_host("jb1")
    spec = PlaybookSpec("secret.yml", str(TEST_PLAYBOOKS), booted.ansible.ssh_key, extravars={"app_name": HOSTILE})
    with db.unit_of_work() as s:
        targets = [capabilities.target_of(s.get(type(host), host.id))]
    result = run_playbook(
        spec, targets, timeout=90, secrets={"app_password": SECRET}, workdir_parent=tmp_path / "runs", keep_workdir=True
    )
    assert result.ok, result.explanation
    (job_dir,) = (tmp_path / "runs").iterdir()
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    holders = []
    for path in job_dir.rglob("*"):
        if path.is_file():
            if _leaks(path.read_bytes().decode("utf-8", "replace")):
                holders.append(path.relative_to(job_dir).as_posix())
            if path.parent.name in ("vars", "inventory") or path.name in ("ssh_key", "known_hosts"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert holders == ["vars/secrets.yml"]
    command = (job_dir / "artifacts" / "run" / "command").read_text()
    assert "@" + str(job_dir / "vars" / "secrets.yml") in command
    assert "!unsafe" in (job_dir / "vars" / "extravars.yml").read_text()
