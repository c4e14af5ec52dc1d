"""A new site's certificate comes in its create run (site_create.yml, in its one module call) when
the panel has an ACME directory and the batch is small; a bigger batch, or no ACME, sends none there (the
sites are active first, a site_cert job follows). Checked on the job's extravars."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from panel import db
from panel.capabilities.sites import jobs as site_jobs
from panel.capabilities.sites import service as svc
from panel.jobs import capabilities as job_caps
from panel.models.jobs import Job
from panel.services import requests


@pytest.fixture
def host(make):
    return make.make_host("weba", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})


@pytest.fixture
def acme(monkeypatch):
    def use(directory: str) -> None:
        cfg = job_caps.settings()
        sites = dataclasses.replace(cfg.sites, acme_directory=directory)
        monkeypatch.setattr(job_caps, "_settings", dataclasses.replace(cfg, sites=sites))

    return use


def _create_job(world, payload: dict, actor=None) -> dict:
    req = svc.site_request(actor or world.wa, action="create", org_id=world.a.id, payload={"plan": "basic", **payload})
    requests.request_approve(world.op if actor is None else world.op2, req.id)
    with db.unit_of_work() as s:
        job = s.query(Job).filter(Job.request_id == req.id).one()
        extravars, secrets, _targets = site_jobs.build(job, s)
    assert secrets == {}
    return extravars


def test_one_new_site_gets_its_certificate_in_the_create_run(world, host, acme):
    acme("https://10.77.0.1:14000/dir")
    ev = _create_job(world, {"fqdn": "www.a.gov.test", "aliases": ["a.gov.test"]})
    assert [s["tls"] for s in ev["govhost_sites"]] == ["none"]  # the first pass: HTTP, challenges served
    assert [(s["fqdn"], s["tls"], s["aliases"]) for s in ev["govhost_sites_acme"]] == [
        ("www.a.gov.test", "acme", ["a.gov.test"])
    ]
    assert ev["acme_cert_directory"] == "https://10.77.0.1:14000/dir" and ev["acme_cert_force"] is False


def test_no_acme_directory_or_tls_none_sends_no_certificate_play(world, host, acme):
    acme("")
    assert _create_job(world, {"fqdn": "one.a.gov.test"})["govhost_sites_acme"] == []
    acme("https://10.77.0.1:14000/dir")
    ev = _create_job(world, {"fqdn": "two.a.gov.test", "tls": "none"})
    assert ev["govhost_sites_acme"] == [] and "acme_cert_directory" not in ev


def test_a_big_batch_is_active_first_and_certified_after(world, host, acme, make):
    from panel.models.tenants import Role
    from tests.support.fixtures import set_limit

    set_limit(world.a.id, "sites", 100)
    acme("https://10.77.0.1:14000/dir")
    world.op2 = make.actor_of(make.make_user(Role.OPERATOR))
    specs = [{"fqdn": f"b{i}.a.gov.test"} for i in range(site_jobs.INLINE_ACME + 1)]
    ev = _create_job(world, {"sites": specs}, actor=world.op)
    assert len(ev["govhost_sites"]) == site_jobs.INLINE_ACME + 1 and ev["govhost_sites_acme"] == []


def test_the_one_call_create_role_has_the_step_roles_defaults():
    """site_create does the work of the step roles in one module call, with their variables: each of
    its defaults is one of theirs, same name, same value (a changed path changes both or fails here)."""
    import yaml

    roles = Path(__file__).resolve().parents[3] / "playbooks" / "roles"
    theirs: dict = {}
    for role in ("site_user", "php_fpm_pool", "sftp_chroot", "nginx_vhost", "acme_cert"):
        theirs |= yaml.safe_load((roles / role / "defaults" / "main.yml").read_text())
    mine = yaml.safe_load((roles / "site_create" / "defaults" / "main.yml").read_text())
    assert mine.pop("site_create_acme_sites") == []
    assert {k: theirs.get(k, "<missing>") for k in mine} == mine
    used = (roles / "site_create" / "tasks" / "main.yml").read_text()
    assert all(k in used for k in mine if k != "govhost_templates")  # none kept for nothing
