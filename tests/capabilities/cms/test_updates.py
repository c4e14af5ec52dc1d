"""Mass update plans without hosts: which instances a plan takes (scope, older versions only, a
ministry's own or every ministry's for the data center), the plan rows with from/to versions, one
approval, one job per host, per-site results recorded from the job, the request done when every
site is through (failed when a job failed, and a retry takes only those)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins, updates
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.errors import Invalid, NotFound
from panel.jobs import capabilities as job_kinds
from panel.jobs.runner import finish
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Organization, OrgKind, Role
from panel.services import requests as req_svc
from provisioners.base import Result
from tests.capabilities.cms.test_catalogue import plugin_zip
from tests.capabilities.cms.test_services import _host, world  # noqa: F401 (the fixture)


@pytest.fixture
def plan_world(world, make):
    w = world
    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.kind == OrgKind.DATACENTER)).first()
        web2 = _host(s, "web2", "192.0.2.22", "web").id
    approver = make.actor_of(make.make_user(Role.ADMIN, dc))
    items = {}
    for version in ("1.0", "1.1", "2.0"):
        item = cat.catalogue_upload(w.op, kind="plugin", data=plugin_zip(version=version))
        items[version] = cat.catalogue_approve(approver, item.id)
    insts = {}
    with db.unit_of_work() as s:
        for name, org, site, host, version in (
            ("a1", w.a, w.ids.site_a, w.ids.web, "1.0"),
            ("a2", w.a, w.ids.site_a2, web2, "1.0"),
            ("b1", w.b, w.ids.site_b, w.ids.web, "1.0"),
        ):
            inst = Instance(
                org_id=org.id,
                site_id=site,
                fqdn=f"{name}.gov.test",
                host_id=host,
                title="t",
                admin_user="webadmin",
                admin_email="w@gov.test",
                status=InstanceStatus.ACTIVE,
            )
            s.add(inst)
            s.flush()
            s.add(
                plugins.InstanceItem(
                    instance_id=inst.id,
                    org_id=org.id,
                    kind="plugin",
                    slug="ministry-banner",
                    item_id=items[version].id,
                    version=version,
                    active=True,
                    state=plugins.ItemState.INSTALLED,
                )
            )
            insts[name] = inst.id
    w.items, w.insts, w.web2, w.approver, w.dc = items, insts, web2, approver, dc
    return w


def _rows(request_id):
    with db.unit_of_work() as s:
        return list(s.scalars(select(updates.UpdateTarget).where(updates.UpdateTarget.request_id == request_id)))


def test_a_ministry_plan_takes_its_own_older_instances_and_needs_one_approval(plan_world):
    w = plan_world
    req = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.1"].id)
    assert req.status == RequestStatus.SUBMITTED and req.approvals_needed == 1
    assert req.payload["instance_ids"] == sorted([w.insts["a1"], w.insts["a2"]])
    rows = _rows(req.id)
    assert {(r.fqdn, r.from_version, r.to_version, r.status) for r in rows} == {
        ("a1.gov.test", "1.0", "1.1", updates.TargetStatus.PLANNED),
        ("a2.gov.test", "1.0", "1.1", updates.TargetStatus.PLANNED),
    }
    with db.unit_of_work() as s:  # nothing is sent before the approval
        assert s.scalars(select(Job).where(Job.kind == updates.UPDATE)).all() == []
    # B sees neither the plan nor its rows; the plan's requester does not approve it
    with pytest.raises(NotFound):
        updates.plan_targets(w.wb, req.id)
    assert len(updates.plan_targets(w.wa, req.id)) == 2
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        jobs = list(s.scalars(select(Job).where(Job.kind == updates.UPDATE).order_by(Job.id)))
        assert sorted(j.host_ids[0] for j in jobs) == sorted([w.ids.web, w.web2])  # one job per host
        assert s.get(Request, req.id).status == RequestStatus.PROVISIONING
        extra, secrets, _targets = job_kinds.get(updates.UPDATE).build(jobs[0], s)
    (one,) = extra["wordpress_updates"]
    assert (one["slug"], one["from_version"], one["version"], one["sha256"]) == (
        "ministry-banner",
        "1.0",
        "1.1",
        w.items["1.1"].sha256,
    )
    assert one["zip"].endswith(f"{w.items['1.1'].sha256}.zip") and secrets == {}


def _finish(job_id, data, status="successful"):
    from panel.jobs.runner import worker_id

    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
        job.move_to(JobStatus.RUNNING)
        job.worker = worker_id()
    finish(
        job_id, Result(status=status, rc=0 if status == "successful" else 2, data=data), job_kinds.get(updates.UPDATE)
    )


def test_per_site_results_versions_and_the_request_end(plan_world):
    w = plan_world
    req = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.1"].id)
    req_svc.request_approve(w.op, req.id)
    rows = {r.fqdn: r for r in _rows(req.id)}
    a1, a2 = rows["a1.gov.test"], rows["a2.gov.test"]
    _finish(
        a1.job_id,
        {"wordpress_update_results": {str(a1.id): {"status": "updated", "version": "1.1", "active": True}}},
    )
    with db.unit_of_work() as s:
        assert s.get(Request, req.id).status == RequestStatus.PROVISIONING  # a2 is still on its way
    _finish(
        a2.job_id,
        {
            "wordpress_update_results": {
                str(a2.id): {"status": "rolled_back", "version": "1.0", "answered": True, "detail": "HTTP 500"}
            }
        },
    )
    rows = {r.fqdn: r for r in _rows(req.id)}
    assert (rows["a1.gov.test"].status, rows["a1.gov.test"].version_after) == (updates.TargetStatus.UPDATED, "1.1")
    assert rows["a2.gov.test"].status == updates.TargetStatus.ROLLED_BACK and rows["a2.gov.test"].answered is True
    with db.unit_of_work() as s:
        assert s.get(Request, req.id).status == RequestStatus.DONE  # a rollback is a result, not a failure
        versions = {i.instance_id: (i.version, i.item_id) for i in s.scalars(select(plugins.InstanceItem))}
    assert versions[w.insts["a1"]] == ("1.1", w.items["1.1"].id)
    assert versions[w.insts["a2"]] == ("1.0", w.items["1.0"].id)  # rolled back: unchanged


def test_a_failed_job_fails_the_request_and_a_retry_takes_only_its_sites(plan_world):
    w = plan_world
    req = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.1"].id)
    req_svc.request_approve(w.op, req.id)
    rows = {r.fqdn: r for r in _rows(req.id)}
    _finish(rows["a1.gov.test"].job_id, {}, status="failed")  # host unreachable: no result at all
    _finish(
        rows["a2.gov.test"].job_id,
        {"wordpress_update_results": {str(rows["a2.gov.test"].id): {"status": "updated", "version": "1.1"}}},
    )
    with db.unit_of_work() as s:
        assert s.get(Request, req.id).status == RequestStatus.FAILED
    assert {r.fqdn: r.status for r in _rows(req.id)}["a1.gov.test"] == updates.TargetStatus.FAILED
    req_svc.request_retry(w.wa, req.id)
    with db.unit_of_work() as s:
        assert s.get(Request, req.id).status == RequestStatus.PROVISIONING
        new = list(s.scalars(select(Job).where(Job.kind == updates.UPDATE, Job.status == JobStatus.PENDING)))
    assert [j.params["target_ids"] for j in new] == [[rows["a1.gov.test"].id]]


def test_scope_versions_and_bad_plans(plan_world):
    w = plan_world
    # the data center's own plan covers every ministry
    req = updates.update_plan(w.op, org_id=w.dc.id, item_id=w.items["1.1"].id)
    assert len(req.payload["instance_ids"]) == 3 and req.payload["everyone"] is True
    # ...and a ministry reading it sees only its own sites
    with pytest.raises(NotFound):
        updates.plan_targets(w.wb, req.id)
    # only chosen instances; another ministry's is not applicable
    one = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["2.0"].id, instance_ids=[w.insts["a1"]])
    assert one.payload["instance_ids"] == [w.insts["a1"]]
    with pytest.raises(Invalid) as e:
        updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["2.0"].id, instance_ids=[w.insts["b1"]])
    assert e.value.key == "cms.update_not_applicable"
    # no older version to move from (same or older target): nothing to plan
    with pytest.raises(Invalid) as e:
        updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.0"].id)
    assert e.value.key == "cms.update_nothing"
    # a pending item, an unknown item, too many ids: refused before anything is stored
    pending = cat.catalogue_upload(w.op, kind="plugin", data=plugin_zip(version="3.0"))
    for bad in (pending.id, 999_999):
        with pytest.raises(Invalid) as e:
            updates.update_plan(w.wa, org_id=w.a.id, item_id=bad)
        assert e.value.key == "cms.not_in_catalogue"
    with pytest.raises(Invalid):
        updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["2.0"].id, instance_ids=list(range(1, 1002)))
    with pytest.raises(Invalid):
        updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["2.0"].id, instance_ids=[])
    assert cat.version_key("1.10") > cat.version_key("1.9")


def test_cli_catalogue_plugin_and_plan(plan_world, cli, tmp_path):
    w = plan_world
    with db.unit_of_work() as s:
        from panel.models.users import User

        uploader = s.get(User, w.op.user_id).username
        other = s.get(User, w.approver.user_id).username
        webmaster = s.get(User, w.wa.user_id).username
    path = tmp_path / "banner.zip"
    path.write_bytes(plugin_zip(version="4.0"))
    r = cli("cms", "catalogue", "upload", str(path), "--kind", "plugin", "--as", uploader)
    assert r.exit_code == 0 and "ministry-banner 4.0" in r.output and "pending" in r.output, r.output
    item_id = int(r.output.split("#")[1].split(":")[0])
    r = cli("cms", "catalogue", "approve", str(item_id), "--as", uploader)
    assert r.exit_code == 2 and "cms.catalogue_self_approval" in r.output
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    r = cli("cms", "catalogue", "upload", str(tmp_path / "bad.zip"), "--as", uploader)
    assert r.exit_code == 2 and "cms.zip_invalid" in r.output
    assert cli("cms", "catalogue", "approve", str(item_id), "--as", other).exit_code == 0
    r = cli("cms", "catalogue", "list", "--as", webmaster)
    assert r.exit_code == 0 and "4.0" in r.output
    # the plan over the ministry's two sites, shown with from/to versions
    r = cli("cms", "update", "plan", "--org", str(w.a.id), "--item", str(item_id), "--as", webmaster)
    assert r.exit_code == 0 and "a1.gov.test" in r.output and "a2.gov.test" in r.output and "b1" not in r.output
    request_id = int(r.output.split("#")[1].split(" ")[0])
    r = cli("cms", "update", "show", str(request_id), "--as", webmaster)
    assert r.exit_code == 0 and "planned" in r.output and "1.0" in r.output
    # an item that is not in the catalogue cannot be installed from the CLI either
    r = cli("cms", "plugin", "install", "--org", str(w.a.id), "--instance", str(w.insts["a1"]), "--item", "999999")
    assert r.exit_code == 2 and "cms.not_in_catalogue" in r.output
    r = cli("cms", "plugin", "list", str(w.insts["a1"]), "--as", webmaster)
    assert r.exit_code == 0 and "ministry-banner" in r.output and "installed" in r.output
