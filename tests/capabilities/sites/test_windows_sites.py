"""Sites on Windows through the one request model: a Windows plan places on a Windows web host (and
a Linux plan never does), names and paths hostile on Windows are refused before anything is stored
or sent, and a site job for a Windows host is built for IIS (its own playbook, PowerShell over the
same pinned-key SSH) or fails with its reason when the kind has no Windows path."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import func, select

from panel import db, security
from panel.capabilities.dns.models import DnsKey
from panel.capabilities.sites import jobs as site_jobs
from panel.capabilities.sites import rules
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import Certificate, Plan, Site, SiteAlias, SiteStatus
from panel.errors import PanelError
from panel.jobs import capabilities, runner
from panel.models.hosts import HostOS
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request
from panel.models.tenants import Role
from provisioners.inventory import build_inventory

ROOT = "C:\\govhost\\sites"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("..\\x", "parent folder"),
        ("..", "parent folder"),
        ("CON", "device name"),
        ("con.a.gov.test", "device name"),
        ("NUL", "device name"),
        ("lpt1.a.gov.test", "device name"),
        ("com¹", "device name"),
        ("a:b", "character ':'"),
        ("x\\y", "character '\\\\'"),
        ("shop.", "ends with a dot"),
        ("shop ", "ends with a dot or a space"),
        ("a\x01b", "character"),
    ],
)
def test_hostile_windows_names(name, why):
    assert why in rules.name_problem(name)


def test_ordinary_names_pass_and_long_paths_do_not():
    for ok in ("www.a.gov.test", "console.a.gov.test", "conx.a.gov.test", "nul-1.a.gov.test"):
        assert rules.name_problem(ok) == ""
    dirs = rules.check_windows_site(ROOT, 7, "www.a.gov.test")
    assert dirs == {
        "path": "C:\\govhost\\sites\\org7\\www.a.gov.test",
        "wwwroot": "C:\\govhost\\sites\\org7\\www.a.gov.test\\wwwroot",
        "logs": "C:\\govhost\\sites\\org7\\www.a.gov.test\\logs",
    }
    long = ("a" * 60 + ".") * 3 + "b" * 40 + ".a.gov.test"  # a valid DNS name; its folder is not
    with pytest.raises(PanelError) as exc:
        rules.check_windows_site(ROOT, 7, long)
    assert exc.value.key == "site.windows_path_long" and exc.value.params["length"] > 248


@pytest.fixture
def win(world, make):
    """A Windows web host, a Linux web host and a Windows plan."""
    make.make_plan("iis", os=HostOS.WINDOWS, managed_runtime="v4.0", disk_mb=100)
    linux = make.make_host("lin1", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})
    windows = make.make_host("win1", roles=["web"], capacities={"sites": 50}, os=HostOS.WINDOWS, ssh_user="govhost")
    return windows, linux


def ask(actor, org, fqdn, plan="iis", **kw):
    return svc.site_request(actor, action="create", org_id=org.id, payload={"fqdn": fqdn, "plan": plan, **kw})


def test_a_windows_plan_places_on_a_windows_host_and_a_linux_plan_never_does(world, win):
    windows, linux = win
    assert ask(world.wa, world.a, "w.a.gov.test").target_host_id == windows.id
    assert ask(world.wa, world.a, "l.a.gov.test", plan="basic").target_host_id == linux.id
    with pytest.raises(PanelError) as exc:
        ask(world.op, world.a, "x.a.gov.test", host_id=linux.id)
    assert exc.value.key == "site.host_invalid_windows"
    with pytest.raises(PanelError) as exc:
        ask(world.op, world.a, "y.a.gov.test", plan="basic", host_id=windows.id)
    assert exc.value.key == "site.host_invalid"


def test_no_windows_host_no_windows_site(world, make):
    make.make_plan("iis", os=HostOS.WINDOWS)
    make.make_host("lin1", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "w.a.gov.test")
    assert exc.value.key == "site.no_capacity_windows" and exc.value.status == 409


@pytest.mark.parametrize(
    ("payload", "key", "field"),
    [
        ({"fqdn": "con.a.gov.test"}, "site.windows_device", "fqdn"),
        ({"fqdn": "NUL.a.gov.test"}, "site.windows_device", "fqdn"),
        ({"fqdn": "w.a.gov.test", "aliases": ["aux.a.gov.test"]}, "site.windows_device", "aliases"),
        ({"fqdn": ("a" * 60 + ".") * 3 + "b" * 40 + ".a.gov.test"}, "site.windows_path_long", "fqdn"),
        ({"fqdn": "..\\x.a.gov.test"}, "name.", "fqdn"),  # the DNS name rules refuse it first
        ({"fqdn": "a:b.a.gov.test"}, "name.", "fqdn"),
    ],
)
def test_hostile_names_are_refused_before_anything_is_stored(world, win, payload, key, field):
    with db.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(Request))
    with pytest.raises(PanelError) as exc:
        svc.site_request(world.wa, action="create", org_id=world.a.id, payload={"plan": "iis", **payload})
    assert exc.value.key.startswith(key) and exc.value.field == field and exc.value.status == 422
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == before
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    # The same name on a Linux plan is an ordinary site (nginx has no device names).
    if key == "site.windows_device" and field == "fqdn":
        assert ask(world.wa, world.a, payload["fqdn"], plan="basic").id


def test_windows_job_build_and_inventory(world, win, make):
    windows, _ = win
    site = make.make_site(world.a, "w.a.gov.test", host=windows, plan=make.make_plan("iis"), system_user="site41")
    with db.unit_of_work() as s:
        job = svc.submit_site_job(world.op, "sites.site_suspend", [s.merge(site)])
        job_id = job.id
    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
        extravars, secrets, targets = site_jobs.build(job, s)
        cap = capabilities.get(job.kind)
    assert cap.playbook_for(targets) == "site_suspend_iis.yml" and secrets == {}
    assert extravars["govhost_iis_sites"] == [
        {
            "name": "w.a.gov.test",
            "pool": "site41",
            "state": "suspended",
            "hostnames": ["w.a.gov.test"],
            "bindings": [{"port": 80, "hostname": "w.a.gov.test", "protocol": "http"}],
            "runtime": "v4.0",
            "quota_mb": 100,  # the plan's disk_mb, a hard FSRM quota on the site's folder
            "path": f"{ROOT}\\org{world.a.id}\\w.a.gov.test",
            "wwwroot": f"{ROOT}\\org{world.a.id}\\w.a.gov.test\\wwwroot",
            "logs": f"{ROOT}\\org{world.a.id}\\w.a.gov.test\\logs",
            "archive": f"{ROOT}\\archive\\w.a.gov.test-job{job_id}.zip",
            "sftp": {
                "user": f"sftp{site.id}",
                "keys": [],
                "match": [
                    f"Match User sftp{site.id}",
                    f'    ChrootDirectory "{ROOT}\\org{world.a.id}\\w.a.gov.test"',
                    "    ForceCommand internal-sftp -d /wwwroot",
                    f"    AuthorizedKeysFile __PROGRAMDATA__/ssh/govhost_keys/sftp{site.id}",
                    "    PasswordAuthentication no",
                    "    AllowTcpForwarding no",
                    "    AllowStreamLocalForwarding no",
                    "    AllowAgentForwarding no",
                    "    X11Forwarding no",
                    "    PermitTunnel no",
                    "    PermitTTY no",
                ],
            },
        }
    ]
    inv = build_inventory(targets, known_hosts_file="/kh", ssh_key_file="/key")["all"]["hosts"]["win1"]
    assert inv["ansible_connection"] == "ssh" and inv["ansible_shell_type"] == "powershell"
    assert inv["ansible_user"] == "govhost" and inv["ansible_become"] is False
    assert "ansible_python_interpreter" not in inv
    assert "StrictHostKeyChecking=yes" in inv["ansible_ssh_common_args"]


def _run(world, booted, kind, site) -> Job:
    with db.unit_of_work() as s:
        job_id = svc.submit_site_job(world.op, kind, [s.merge(site)]).id
    assert runner.run_job(job_id, booted) == "failed"
    with db.unit_of_work() as s:
        return s.get(Job, job_id)


def test_a_hostile_name_already_stored_fails_the_job_before_anything_is_sent(world, win, make, booted):
    windows, _ = win
    site = make.make_site(
        world.a, "con.a.gov.test", host=windows, plan=make.make_plan("iis"), status=SiteStatus.REQUESTED
    )
    job = _run(world, booted, "sites.site_create", site)
    assert job.status == JobStatus.FAILED and "nothing was sent" in job.explanation
    assert "CON is a device name" in job.explanation
    with db.unit_of_work() as s:
        row = s.get(Site, site.id)
        assert row.status == SiteStatus.FAILED and "CON is a device name" in row.last_error


def test_a_kind_without_a_windows_path_fails_with_its_reason(world, win, make, booted, monkeypatch):
    # Every site kind a sweep sends to an IIS host has a Windows path now; one without it (as
    # site_usage was) fails with this reason before anything is sent.
    usage = capabilities.get("sites.site_usage")
    monkeypatch.setitem(capabilities._registry, usage.kind, dataclasses.replace(usage, windows_playbook=""))
    windows, _ = win
    site = make.make_site(world.a, "w.a.gov.test", host=windows, plan=make.make_plan("iis"))
    job = _run(world, booted, "sites.site_usage", site)
    assert job.status == JobStatus.FAILED
    assert job.explanation == "job kind sites.site_usage does not run on Windows hosts"


def test_windows_plans_through_service_and_cli(world, make, cli):
    admin = make.make_user(Role.ADMIN)
    plan = svc.plan_create(make.actor_of(admin), name="iis-net", disk_mb=500, os="windows", managed_runtime="v4.0")
    assert plan.os == HostOS.WINDOWS and plan.managed_runtime == "v4.0"
    with pytest.raises(PanelError) as exc:
        svc.plan_create(make.actor_of(admin), name="lin-net", disk_mb=500, managed_runtime="v4.0")
    assert exc.value.key == "site.plan_runtime" and exc.value.field == "managed_runtime"
    with pytest.raises(PanelError) as exc:
        svc.plan_create(make.actor_of(admin), name="mac", disk_mb=500, os="macos")
    assert exc.value.key == "host.os_invalid"
    out = cli("sites", "plan-create", "iis-static", "--disk-mb", "200", "--os", "windows", "--as", admin.username)
    assert out.exit_code == 0, out.output
    out = cli("sites", "plan-create", "bad", "--disk-mb", "200", "--runtime", "v9", "--as", admin.username)
    assert out.exit_code == 2 and "site.plan_runtime" in out.output
    with db.unit_of_work() as s:
        assert s.scalars(select(Plan.os).where(Plan.name == "iis-static")).one() == HostOS.WINDOWS


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl webmaster@a"


def test_a_site_key_reaches_its_sftp_account_and_only_its_own(world, win, make):
    windows, _ = win
    plan = make.make_plan("iis2", os=HostOS.WINDOWS)
    one = make.make_site(world.a, "one.a.gov.test", host=windows, plan=plan)
    two = make.make_site(world.a, "two.a.gov.test", host=windows, plan=plan)
    svc.sftp_key_add(world.wa, site_id=one.id, public_key=KEY)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "sites.site_update")).one()
        assert job.params["site_ids"] == [one.id]
        job = s.get(Job, job.id)
        job.params = {"site_ids": [one.id, two.id]}  # both in one batch: each keeps its own
        extravars, _, _ = site_jobs.build(job, s)
    by = {e["name"]: e["sftp"] for e in extravars["govhost_iis_sites"]}
    assert by["one.a.gov.test"]["keys"] == [KEY] and by["two.a.gov.test"]["keys"] == []
    assert by["one.a.gov.test"]["user"] != by["two.a.gov.test"]["user"]
    assert f'ChrootDirectory "{ROOT}\\org{world.a.id}\\two.a.gov.test"' in by["two.a.gov.test"]["match"][1]


@pytest.fixture
def acme(booted):
    """The panel with an ACME server and a DNS primary (as the job builder reads them), put back after."""
    changed = dataclasses.replace(
        booted,
        sites=dataclasses.replace(booted.sites, acme_directory="https://acme.invalid/dir"),
        dns=dataclasses.replace(booted.dns, primary_host="ns-primary"),
    )
    capabilities.configure(changed)
    yield changed
    capabilities.configure(booted)


def _cert_job(world, site) -> int:
    with db.unit_of_work() as s:
        return svc.submit_site_job(world.op, "sites.site_cert", [s.merge(site)], params={"force": True}).id


def test_a_windows_certificate_needs_its_names_in_a_zone_govhost_serves(world, win, make, acme):
    windows, _ = win
    site = make.make_site(world.a, "w.a.gov.test", host=windows, plan=make.make_plan("iis2", os=HostOS.WINDOWS))
    job_id = _cert_job(world, site)
    assert runner.run_job(job_id, acme) == "failed"
    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
    assert "nothing was sent" in job.explanation and "w.a.gov.test is not in a zone govhost's DNS serves" in (
        job.explanation
    )


def test_a_windows_certificate_job_is_built_for_the_controller_and_iis(world, win, make, acme):
    windows, _ = win
    primary = make.make_host("ns-primary", roles=["dns"], address="192.0.2.53")
    make.make_zone(world.a, "a.gov.test", host=primary)
    with db.unit_of_work() as s:
        s.add(DnsKey(name=acme.dns.key_name, secret_sealed=security.seal("c2VjcmV0LXRzaWc=")))
    site = make.make_site(
        world.a,
        "w.a.gov.test",
        host=windows,
        plan=make.make_plan("iis2", os=HostOS.WINDOWS),
        aliases=[SiteAlias(name="www.a.gov.test")],
    )
    job_id = _cert_job(world, site)
    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
        extravars, secrets, targets = site_jobs.build(job, s)
        assert capabilities.get(job.kind).playbook_for(targets) == "site_cert_iis.yml"
    with db.unit_of_work() as s:
        again = site_jobs.build(s.get(Job, job_id), s)[1]
        sealed = capabilities.job_secrets(s.get(Job, job_id))
    (entry,) = extravars["govhost_iis_sites"]
    assert entry["zones"] == {"w.a.gov.test": "a.gov.test", "www.a.gov.test": "a.gov.test"}
    assert [b["hostname"] for b in entry["https"]] == ["w.a.gov.test", "www.a.gov.test"]
    assert all(b["use_sni"] and "certificate_hash" not in b for b in entry["https"])
    assert extravars["acme_central_directory"] == "https://acme.invalid/dir"
    assert extravars["acme_central_dns_server"] == "192.0.2.53"
    # The TSIG secret and the PFX password are job secrets only; the password is sealed with the
    # job's secrets at its first build and the same at the next (a handed-back job reruns).
    assert secrets["acme_central_key_secret"] == "c2VjcmV0LXRzaWc="
    assert len(secrets["iis_cert_pfx_password"]) >= 32
    assert again["iis_cert_pfx_password"] == secrets["iis_cert_pfx_password"] == sealed["iis_cert_pfx_password"]
    text = json.dumps(extravars) + json.dumps(job.params)
    assert "c2VjcmV0LXRzaWc=" not in text and secrets["iis_cert_pfx_password"] not in text


def test_a_recorded_thumbprint_keeps_the_https_bindings_through_later_jobs(world, win, make):
    windows, _ = win
    site = make.make_site(world.a, "w.a.gov.test", host=windows, plan=make.make_plan("iis2", os=HostOS.WINDOWS))
    with db.unit_of_work() as s:
        row = s.get(Site, site.id)
        row.certificates.append(
            Certificate(
                source="acme", names=["w.a.gov.test"], fingerprint="aa", thumbprint="AB" * 20,
                not_before=db.utcnow(), not_after=db.utcnow(), is_current=True,
            )
        )  # fmt: skip
    with db.unit_of_work() as s:
        job_id = svc.submit_site_job(world.op, "sites.site_suspend", [s.get(Site, site.id)]).id
    with db.unit_of_work() as s:
        (entry,) = site_jobs.build(s.get(Job, job_id), s)[0]["govhost_iis_sites"]
    assert entry["bindings"][1] == {
        "port": 443, "hostname": "w.a.gov.test", "protocol": "https", "use_sni": True,
        "certificate_store_name": "WebHosting", "certificate_hash": "AB" * 20,
    }  # fmt: skip
