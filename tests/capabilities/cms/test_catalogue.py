"""The plugin and theme catalogue without hosts: the zip's checks, storage under the data dir by
sha256, four-eyes approval, and installs from the catalogue only (anything else is refused before a
job exists); ministries see and touch only their own instances."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.jobs import capabilities as job_kinds
from panel.models.audit import AuditEntry
from panel.models.jobs import Job
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from tests.capabilities.cms.test_services import world  # noqa: F401 (the fixture)

PLUGIN_PHP = """<?php
/**
 * Plugin Name: Ministry Banner
 * Description: A banner.
 * Version: {version}
 */
add_action('wp_footer', function () {{ echo '<p id="ministry-banner">{marker}</p>'; }});
"""


def plugin_zip(slug="ministry-banner", version="1.0.0", marker="hello", extra=None, php=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{slug}/", "")
        z.writestr(f"{slug}/{slug}.php", php or PLUGIN_PHP.format(version=version, marker=marker))
        z.writestr(f"{slug}/readme.txt", "=== Ministry Banner ===\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def theme_zip(slug="ministry-theme", version="2.1") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{slug}/style.css", f"/*\nTheme Name: Ministry Theme\nVersion: {version}\n*/\n")
        z.writestr(f"{slug}/index.php", "<?php\n")
    return buf.getvalue()


def link_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("evil/evil.php", PLUGIN_PHP.format(version="1", marker="x"))
        info = zipfile.ZipInfo("evil/config")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/wordpress")
    return buf.getvalue()


@pytest.fixture
def staff(world, make):
    dc_org = world.op  # the operator of the fixture uploads; a second one approves
    from panel.models.tenants import Organization, OrgKind

    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.kind == OrgKind.DATACENTER)).first()
    other = make.actor_of(make.make_user(Role.ADMIN, dc))
    return dc_org, other


def test_good_plugin_and_theme_are_read_from_their_headers():
    data = plugin_zip(version="1.2.3")  # once: a zip's entries carry the time they were written
    p = cat.check_zip(data, "plugin")
    assert (p.slug, p.name, p.version, p.main_file) == (
        "ministry-banner",
        "Ministry Banner",
        "1.2.3",
        "ministry-banner/ministry-banner.php",
    )
    assert p.sha256 == hashlib.sha256(data).hexdigest()
    t = cat.check_zip(theme_zip(), "theme")
    assert (t.slug, t.name, t.version, t.main_file) == (
        "ministry-theme",
        "Ministry Theme",
        "2.1",
        "ministry-theme/style.css",
    )


@pytest.mark.parametrize(
    "data, why",
    [
        (b"not a zip at all", "not a zip"),
        (plugin_zip(extra={"../escape.php": "<?php"}), "leaves its folder"),
        (plugin_zip(extra={"ministry-banner/../../x.php": "<?php"}), "leaves its folder"),
        (plugin_zip(extra={"/etc/cron.d/x": "x"}), "leaves its folder"),
        (plugin_zip(extra={"other/x.php": "<?php"}), "exactly one folder"),
        (plugin_zip(extra={"loose.txt": "x"}), "exactly one folder"),
        (plugin_zip(php="<?php echo 1;"), "No Plugin Name: header"),
        (plugin_zip(php="<?php\n/* Plugin Name: X */\n"), "Version header"),
        (plugin_zip(slug="Bad Slug"), "not a WordPress slug"),
        (link_zip(), "link"),
        (theme_zip(), "No Plugin Name: header"),  # a theme uploaded as a plugin
    ],
)
def test_bad_zips_are_refused_with_the_reason(data, why):
    with pytest.raises(Invalid) as e:
        cat.check_zip(data, "plugin")
    assert e.value.field == "file" and why in e.value.text(), e.value.text()


def test_size_limits():
    with pytest.raises(Invalid) as e:
        cat.check_zip(b"PK" + b"\0" * cat.MAX_ZIP_BYTES, "plugin")
    assert e.value.key == "cms.zip_too_large"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/bomb.php", PLUGIN_PHP.format(version="1", marker="x"))
        z.writestr("bomb/zeros.bin", b"\0" * (cat.MAX_UNPACKED_BYTES + 1))
    with pytest.raises(Invalid, match="unpacks to more than"):
        cat.check_zip(buf.getvalue(), "plugin")


def test_upload_stores_by_sha256_and_needs_another_person(staff, booted, world):
    uploader, approver = staff
    data = plugin_zip()
    item = cat.catalogue_upload(uploader, kind="plugin", data=data, note="banner for ministries")
    assert item.status == cat.ItemStatus.PENDING and item.uploaded_by_name == uploader.username
    path = booted.path("cms", "catalogue", f"{item.sha256}.zip")
    assert path.read_bytes() == data and item.sha256 == hashlib.sha256(data).hexdigest()
    # the same version again is refused; a ministry cannot upload
    with pytest.raises(Conflict) as e:
        cat.catalogue_upload(approver, kind="plugin", data=data)
    assert e.value.key == "cms.catalogue_version_exists"
    with pytest.raises(Forbidden):
        cat.catalogue_upload(world.wa, kind="plugin", data=plugin_zip(version="9"))
    # four eyes: the uploader never approves (nor rejects) their own upload; a ministry never does
    with pytest.raises(Forbidden) as e:
        cat.catalogue_approve(uploader, item.id)
    assert e.value.key == "cms.catalogue_self_approval"
    with pytest.raises(Forbidden):
        cat.catalogue_approve(world.wa, item.id)
    # a ministry does not see pending items
    with pytest.raises(NotFound):
        cat.catalogue_get(world.wa, item.id)
    assert cat.catalogue_list(world.wa).total == 0
    approved = cat.catalogue_approve(approver, item.id)
    assert approved.status == cat.ItemStatus.APPROVED and approved.decided_by_name == approver.username
    assert [i.id for i in cat.catalogue_list(world.wa).items] == [item.id]
    with db.unit_of_work() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert "cms.catalogue_upload" in actions and "cms.catalogue_approve" in actions
    # a changed file on disk is caught before it can go to a host
    path.write_bytes(data + b"x")
    with pytest.raises(Conflict) as e:
        cat.verify_stored(approved)
    assert e.value.key == "cms.catalogue_file_changed"


def test_reject_needs_a_reason_and_is_final(staff):
    uploader, approver = staff
    item = cat.catalogue_upload(uploader, kind="theme", data=theme_zip())
    with pytest.raises(Invalid):
        cat.catalogue_reject(approver, item.id, reason=" ")
    rejected = cat.catalogue_reject(approver, item.id, reason="not from the vendor")
    assert rejected.status == cat.ItemStatus.REJECTED and rejected.note == "not from the vendor"
    with pytest.raises(Exception, match="rejected"):
        cat.catalogue_approve(approver, item.id)


def _instance(world, org, site_id) -> int:
    with db.unit_of_work() as s:
        inst = Instance(
            org_id=org.id,
            site_id=site_id,
            fqdn=f"site{site_id}.gov.test",
            host_id=world.ids.web,
            title="t",
            admin_user="webadmin",
            admin_email="w@a.gov.test",
            status=InstanceStatus.ACTIVE,
        )
        s.add(inst)
        s.flush()
        return inst.id


def _jobs() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Job))


def test_install_only_from_the_catalogue_and_only_on_own_instances(staff, world):
    uploader, approver = staff
    mine = _instance(world, world.a, world.ids.site_a)
    theirs = _instance(world, world.b, world.ids.site_b)
    pending = cat.catalogue_upload(uploader, kind="plugin", data=plugin_zip(version="0.9"))
    approved = cat.catalogue_approve(approver, cat.catalogue_upload(uploader, kind="plugin", data=plugin_zip()).id)
    before = _jobs()
    # not in the catalogue (no such item), not approved: refused, no request, no job
    for item_id, key in (
        (999_999, "cms.not_in_catalogue"),
        (pending.id, "cms.not_in_catalogue"),
        (0, "cms.not_in_catalogue"),
    ):
        with pytest.raises(Invalid) as e:
            plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=mine, item_id=item_id)
        assert e.value.key == key and e.value.field == "item_id"
    # a path, a URL or a zip instead of an item id: refused by the schema
    for bad in ("/tmp/evil.zip", "https://wordpress.org/x.zip", {"zip": "x"}):
        with pytest.raises(Invalid):
            plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=mine, item_id=bad)
    with pytest.raises(Invalid):
        db.session()  # the schema refuses unknown fields too
        from panel.services import requests as req_svc

        req_svc.request_create(
            world.wa,
            kind=plugins.INSTALL,
            org_id=world.a.id,
            payload={"instance_id": mine, "item_id": approved.id, "zip_url": "https://example.org/x.zip"},
        )
    # another ministry's instance: not found, whichever org is named
    with pytest.raises(NotFound):
        plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=theirs, item_id=approved.id)
    with pytest.raises(NotFound):
        plugins.plugin_install(world.wa, org_id=world.b.id, instance_id=theirs, item_id=approved.id)
    assert _jobs() == before
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Request).where(Request.kind == plugins.INSTALL)) == 0

    # an approved item: auto-approved, one job on the instance's host with the catalogue's file
    req = plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=mine, item_id=approved.id)
    assert req.status == RequestStatus.PROVISIONING
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        assert job.kind == plugins.INSTALL and job.host_ids == [world.ids.web]
        assert job.params == {"installs": [{"instance_id": mine, "item_id": approved.id, "activate": True}]}
        row = s.scalars(select(plugins.InstanceItem)).one()
        assert (row.slug, row.state, row.job_id) == ("ministry-banner", plugins.ItemState.PENDING, job.id)
    # installed already (pending): a second install is refused; an update goes through a plan
    with pytest.raises(Conflict) as e:
        plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=mine, item_id=approved.id)
    assert e.value.key == "cms.item_installed"
    # what the job sends: the catalogue's own file, named by its checksum
    with db.unit_of_work() as s:
        job = s.get(Job, job.id)
        from panel.capabilities.sites.models import Site

        extra, secrets, targets = job_kinds.get(plugins.INSTALL).build(job, s)
        site_user = s.get(Site, world.ids.site_a).system_user
    (one,) = extra["wordpress_installs"]
    assert one["zip"].endswith(f"{approved.sha256}.zip") and one["sha256"] == approved.sha256
    assert (one["user"], one["slug"], one["main_file"]) == (site_user, "ministry-banner", approved.main_file)
    assert secrets == {} and [t.name for t in targets] == ["web1"]
