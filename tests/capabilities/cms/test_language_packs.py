"""Language packs in the catalogue without hosts: the zip's checks, four-eyes approval as for
plugins, an instance in Khmer refused without an approved pack and given the newest approved one
(chosen at the approval, sent by the install job), never installed on its own."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import zipfile

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from sqlalchemy import func, select

from panel import db, events
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins
from panel.capabilities.cms.models import Instance
from panel.errors import Invalid
from panel.jobs import capabilities as job_kinds
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.services import requests as req_svc
from provisioners.base import Result
from tests.capabilities.cms.test_catalogue import _instance, plugin_zip, staff  # noqa: F401 (fixture)
from tests.capabilities.cms.test_services import ask, world  # noqa: F401 (the fixture)

HELLO_KM = "សួស្តី ពិភពលោក!"


def mo(locale="km", revised=dt.datetime(2024, 1, 15, 9, 30), messages=None) -> bytes:
    """A compiled translation as GNU msgfmt and translate.wordpress.org write it (WordPress's reader
    needs the hash table's offset right after the indexes); `Hello world!` is the first post's title."""
    header = (
        "Project-Id-Version: WordPress - 6.1.x - Development\n"
        f"PO-Revision-Date: {revised:%Y-%m-%d %H:%M}+0000\nLanguage: {locale}\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=1; plural=0;\n"
    )
    entries = sorted({"": header, **(messages or {"Hello world!": HELLO_KM})}.items())
    n = len(entries)
    ids = strs = b""
    index = []
    for k, v in entries:
        index.append((len(ids), len(k.encode()), len(strs), len(v.encode())))
        ids += k.encode() + b"\0"
        strs += v.encode() + b"\0"
    keys_at = 7 * 4 + 16 * n
    values_at = keys_at + len(ids)
    table = [x for o, n1, _, _ in index for x in (n1, keys_at + o)]
    table += [x for _, _, o, n2 in index for x in (n2, values_at + o)]
    head = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, keys_at)
    return head + struct.pack(f"<{len(table)}I", *table) + ids + strs


def babel_mo() -> bytes:
    """Babel's .mo: gettext reads it, WordPress 6.1 does not (hash table offset 0)."""
    c = Catalog(locale="km", revision_date=dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC))
    c.add("Hello world!", HELLO_KM)
    buf = io.BytesIO()
    write_mo(buf, c)
    return buf.getvalue()


def language_zip(locale="km", files=None, **kw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (files if files is not None else {f"{locale}.mo": mo(locale, **kw)}).items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_language_pack_is_read_from_its_mo_header():
    data = language_zip(files={"km.mo": mo(), "admin-km.mo": mo(), "km.po": "", "plugins/akismet-km.mo": mo()})
    p = cat.check_zip(data, "language")
    assert (p.kind, p.slug, p.version, p.main_file) == ("language", "km", "2024-01-15-09-30", "km.mo")
    assert p.name.startswith("km: WordPress")
    later = cat.check_zip(language_zip(revised=dt.datetime(2024, 3, 2, 8, 0)), "language")
    assert cat.version_key(later.version) > cat.version_key(p.version)


@pytest.mark.parametrize(
    "files, why",
    [
        ({"km/km.mo": mo()}, "files only"),  # a plugin-like folder
        ({"km.mo": mo(), "evil.php": "<?php"}, ".mo, .po, .json and .l10n.php files only"),
        ({"km.mo": mo(), "../km.po": ""}, "leaves its folder"),
        ({"km.po": ""}, "exactly one <locale>.mo"),
        ({"km.mo": mo(), "th.mo": mo("th")}, "exactly one <locale>.mo"),
        ({"km.mo": mo("th")}, "says its language is th"),
        ({"km.mo": b"not a catalogue at all"}, "not a compiled translation"),
        ({"km.mo": babel_mo()}, "WordPress cannot read"),
    ],
)
def test_bad_language_packs_are_refused_with_the_reason(files, why):
    with pytest.raises(Invalid) as e:
        cat.check_zip(language_zip(files=files), "language")
    assert e.value.field == "file" and why in e.value.text(), e.value.text()


def _approved_pack(staff, **kw) -> cat.CatalogueItem:
    uploader, approver = staff
    item = cat.catalogue_upload(uploader, kind="language", data=language_zip(**kw))
    return cat.catalogue_approve(approver, item.id)


def _requests() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Request))


def test_khmer_without_an_approved_pack_is_refused(world, staff):
    uploader, _ = staff
    cat.catalogue_upload(uploader, kind="language", data=language_zip())  # pending: not enough
    with pytest.raises(Invalid) as e:
        ask(world, language="km")
    assert (e.value.key, e.value.field) == ("cms.language_pack_missing", "language")
    assert _requests() == 0
    assert ask(world, language="en").request.id  # English needs none


def test_khmer_instance_gets_the_newest_approved_pack_through_its_install_job(world, staff):
    w = world
    _approved_pack(staff, revised=dt.datetime(2023, 5, 1, 10, 0))
    newest = _approved_pack(staff, revised=dt.datetime(2024, 2, 1, 10, 0))
    issued = ask(w, language="km")
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        row = s.scalars(select(plugins.InstanceItem).where(plugins.InstanceItem.instance_id == inst.id)).one()
        assert (row.kind, row.slug, row.item_id, row.state) == ("language", "km", newest.id, plugins.ItemState.PENDING)
        db_job = s.get(Job, inst.db_job_id)
        db_job.status = "successful"
        events.job_finished.send(db_job, session=s, result=Result("successful", 0), ok=True)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        extra, _secrets, _ = job_kinds.get("cms.instance_install").build(install, s)
        (site,) = extra["wordpress_sites"]
        assert site["language"] == "km"
        assert site["language_pack"]["sha256"] == newest.sha256 and site["language_pack"]["slug"] == "km"
        assert site["language_pack"]["zip"].endswith(f"{newest.sha256}.zip")
        job_kinds.get("cms.instance_install").on_success(
            install, s, Result("successful", 0, data={"wordpress_results": {str(inst.id): {"version": "6.1.9"}}})
        )
        assert (row.state, row.version, row.active) == (plugins.ItemState.INSTALLED, newest.version, True)
        assert "language_pack" not in json.dumps(install.params)


def test_the_pack_changed_on_disk_fails_the_build_not_a_host(world, staff, booted):
    pack = _approved_pack(staff)
    req_svc.request_approve(world.op, ask(world, language="km").request.id)
    booted.path("cms", "catalogue", f"{pack.sha256}.zip").write_bytes(b"changed")
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        db_job = s.get(Job, inst.db_job_id)
        db_job.status = "successful"
        events.job_finished.send(db_job, session=s, result=Result("successful", 0), ok=True)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        with pytest.raises(Exception, match="was changed"):
            job_kinds.get("cms.instance_install").build(install, s)


def test_a_pack_is_never_installed_or_updated_on_its_own(world, staff):
    pack = _approved_pack(staff)
    mine = _instance(world, world.a, world.ids.site_a)
    with pytest.raises(Invalid) as e:
        plugins.plugin_install(world.wa, org_id=world.a.id, instance_id=mine, item_id=pack.id)
    assert e.value.key == "cms.language_pack_alone"
    from panel.capabilities.cms import updates

    with pytest.raises(Invalid) as e:
        updates.update_plan(world.wa, org_id=world.a.id, item_id=pack.id)
    assert e.value.key == "cms.language_pack_alone"
    assert plugin_zip()  # the plugin helpers stay importable from one place
