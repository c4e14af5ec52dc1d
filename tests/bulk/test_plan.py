"""Bulk plans without the lab: reading what spreadsheets save, every error of every row with its file,
line and column, create / no-op / conflict, the digest approval, isolation and where passwords go."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from sqlalchemy import select, text

from panel import db
from panel.capabilities.mail.models import MailAlias, Mailbox, MailboxStatus
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.audit import AuditEntry
from panel.models.bulk import BulkPlan, BulkRow
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.services import bulk, quotas, request_kinds, requests

SITES = "fqdn,plan,aliases\r\nwww.a.gov.test,basic,a.gov.test\r\nshop.a.gov.test,basic,\r\n"
# Excel's "Unicode text" export: UTF-16LE with its mark, tabs, CRLF, a cell holding quotes quoted
UNICODE_TEXT = Path(__file__).parent / "files" / "mailboxes-unicode.txt"


def plan(world, *files, actor=None):
    return bulk.bulk_plan(actor or world.wa, org_id=world.a.id, files=list(files)).plan


def rows(plan_id):
    with db.unit_of_work() as s:
        return list(s.scalars(select(BulkRow).where(BulkRow.plan_id == plan_id).order_by(BulkRow.seq)))


def test_excel_and_libreoffice_files_read_the_same(world):
    khmer = "fqdn,plan\nwww.a.gov.test,basic\n"
    for content in (
        khmer.encode(),
        b"\xef\xbb\xbf" + khmer.replace("\n", "\r\n").encode(),  # Excel "CSV UTF-8"
        khmer.encode("utf-16"),  # with its byte-order mark
        khmer.replace("\n", "\r").encode(),  # old Mac line endings
    ):
        p = plan(world, ("sites.csv", content))
        assert [(r.key, r.action, r.line) for r in rows(p.id)] == [("www.a.gov.test", "create", 2)]


def test_excel_unicode_text_reads_as_its_csv_would(world):
    """Issue 18: a UTF-16 file with its byte-order mark may separate by tabs (Excel's "Unicode
    text"); it is read by the CSV reader, Khmer, quotes and a comma in a cell included."""
    data = UNICODE_TEXT.read_bytes()
    assert data.startswith(b"\xff\xfe") and b"\t\x00" in data
    p = plan(world, ("mailboxes-unicode.txt", data))
    got = [(r.key, r.action, r.line, r.data.get("display_name"), r.data.get("quota_mb")) for r in rows(p.id)]
    assert [g[:3] for g in got] == [("sok@a.gov.test", "create", 2), ("dara@a.gov.test", "create", 3)]
    assert got[0][3:] == ("សុខ សុភា", 200)
    assert got[1][3] == 'ក្រសួង "ប្រៃសណីយ៍", ទូរគមនាគមន៍'
    as_csv = "address,display_name,quota_mb\nsok@a.gov.test,សុខ សុភា,200\n"
    as_csv += 'dara@a.gov.test,"ក្រសួង ""ប្រៃសណីយ៍"", ទូរគមនាគមន៍",\n'
    same = plan(world, ("mailboxes.csv", as_csv))
    assert [(r.key, r.data) for r in rows(same.id)] == [(r.key, r.data) for r in rows(p.id)]


def test_tabs_are_read_only_in_utf16_and_under_the_csv_limits(world):
    """Tabs stay refused in UTF-8 (a tab-separated file there is not what spreadsheets write as
    CSV); a UTF-16 tab file meets the same row, size and column checks as a CSV file."""
    tsv = "address\tdisplay_name\nsok@a.gov.test\tសុខ\n"
    for data, key in (
        (tsv.encode(), "table.delimiter"),
        (("fqdn\tplan\n" + "x.a.gov.test\tbasic\n" * (bulk.MAX_ROWS + 1)).encode("utf-16"), "table.too_many_rows"),
        (("fqdn\tplan\n" + "#" * bulk.MAX_UPLOAD).encode("utf-16"), "table.file_too_large"),
        ("fqdn\tplan\tcolour\nx.a.gov.test\tbasic\tred\n".encode("utf-16"), "table.column_unknown"),
        ("fqdn\tplan\nx.a.gov.test\tbasic\textra\n".encode("utf-16"), "table.too_many_fields"),
        ('fqdn\tplan\n"x.a.gov.test\tbasic\n'.encode("utf-16"), "table.csv_invalid"),
    ):
        with pytest.raises(Invalid) as e:
            plan(world, ("sites.csv", data))
        assert e.value.key == key, (key, e.value)
    with db.unit_of_work() as s:
        assert s.scalar(select(BulkPlan.id)) is None
    big_endian = "fqdn\tplan\r\nwww.a.gov.test\tbasic\r\n".encode("utf-16-be")
    p = plan(world, ("sites.txt", b"\xfe\xff" + big_endian))
    assert [(r.key, r.action, r.line) for r in rows(p.id)] == [("www.a.gov.test", "create", 2)]


def test_every_error_of_every_row_with_file_line_and_column(world):
    bad = "fqdn,plan,php_version,tls\nbad_name!,basic,9,maybe\nok.a.gov.test,,8.2,none\nok.a.gov.test,basic,,\n"
    p = plan(world, ("sites.csv", bad))
    got = {(r.line, e["column"], e["key"].split(".")[0]) for r in rows(p.id) for e in r.errors}
    assert got == {(2, "fqdn", "name"), (2, "php_version", "site"), (2, "tls", "site"), (3, "plan", "bulk")}
    assert len([e for r in rows(p.id) if r.line == 2 for e in r.errors]) == 3  # all at once, not the first only
    assert p.counts == {"invalid": 2, "create": 1}
    with pytest.raises(Invalid) as e:
        bulk.bulk_submit(world.wa, p.id)
    assert e.value.key == "bulk.plan_has_errors"


def test_duplicate_rows_are_named_with_both_lines(world):
    p = plan(world, ("sites.csv", "fqdn,plan\nx.a.gov.test,basic\nX.A.gov.test,basic\n"))
    r = rows(p.id)
    assert r[1].action == "invalid" and r[1].errors[0]["key"] == "bulk.row_duplicate"
    assert "line 2 of sites.csv" in r[1].errors[0]["message"]


@pytest.mark.parametrize(
    ("name", "content", "key"),
    [
        ("sites.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "table.binary"),
        ("sites.csv", "fqdn;plan\nx.a.gov.test;basic\n", "table.delimiter"),
        ("sites.csv", "fqdn,plan,colour\nx.a.gov.test,basic,red\n", "table.column_unknown"),
        ("sites.csv", "plan\nbasic\n", "table.column_missing"),
        ("sites.csv", "fqdn,plan\nx.a.gov.test,basic,extra\n", "table.too_many_fields"),
        (
            "sites.csv",
            b"fqdn,plan\n" + "x.a.gov.test,ប\n".encode("cp1252", "replace") + b"\xe9\n",
            "table.encoding",
        ),
        ("unknown.csv", "fqdn,plan\n", "bulk.file_kind"),
        ("sites.xlsx", "PK", "bulk.file_type"),
        (
            "all.yaml",
            "ministry: mina\nsites:\n  - {fqdn: x.a.gov.test, plan: basic, colour: red}\n",
            "table.column_unknown",
        ),
        ("all.yaml", "ministry: mina\nwebsites: []\n", "bulk.tree_key_unknown"),
        ("all.yaml", "sites: [\n", "table.yaml_invalid"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused_and_nothing_stored(world, name, content, key):
    with pytest.raises(Invalid) as e:
        plan(world, (name, content))
    assert e.value.key == key
    with db.unit_of_work() as s:
        assert s.scalar(select(BulkPlan.id)) is None


def test_hierarchical_yaml_and_json_name_their_lines(world):
    doc = """ministry: mina
sites:
  - fqdn: www.a.gov.test
    plan: basic
  - fqdn: bad name
    plan: basic
mailboxes:
  - {address: dara@a.gov.test, display_name: "ដារ៉ា", quota_mb: 200}
dns_records:
  - {zone: a.gov.test, name: "@", type: MX, data: "10 mx.a.gov.test."}
  - {zone: a.gov.test, name: mx, type: A, data: 10.87.0.251}
"""
    p = plan(world, ("ministry.yaml", doc))
    got = [(r.kind, r.line, r.action) for r in rows(p.id)]
    assert got[:3] == [("sites", 3, "create"), ("sites", 5, "invalid"), ("mailboxes", 8, "create")]
    assert [r[2] for r in got[3:]] == ["create", "create"]
    as_json = json.dumps({"sites": [{"fqdn": "www.a.gov.test", "plan": "basic"}]})
    assert plan(world, ("m.json", as_json)).counts == {"create": 1}


def test_rows_for_another_ministry_are_refused(world):
    with pytest.raises(Forbidden) as e:
        plan(world, ("all.yaml", "ministry: minb\nsites: []\n"))
    assert e.value.key == "bulk.other_ministry"
    p = plan(
        world,
        ("sites.csv", "fqdn,plan\nwww.b.gov.test,basic\n"),
        ("mailboxes.csv", "address\nx@b.gov.test\n"),
        ("dns_records.csv", "zone,name,type,data\nb.gov.test,www,A,10.87.0.9\n"),
    )
    keys = [r.errors[0]["key"] for r in rows(p.id)]
    assert keys == ["dns.domain_unverified", "mail.domain_unknown", "dns.zone_unknown"]
    with pytest.raises(NotFound):  # B cannot see A's plan
        bulk.bulk_show(world.wb, p.id)
    with pytest.raises(NotFound):
        bulk.bulk_plan(world.wb, org_id=world.a.id, files=[("sites.csv", SITES)])


def test_plan_submit_approve_runs_exactly_the_plan_and_rerun_is_all_noops(world):
    p = plan(world, ("sites.csv", SITES), ("mailboxes.csv", "address,display_name\nsok@a.gov.test,សុខ\n"))
    assert p.counts == {"create": 3}
    assert p.quota == {"disk_mb": 200, "mail_storage_mb": 100, "mailboxes": 1, "sites": 2}
    req = bulk.bulk_submit(world.wa, p.id)
    assert req.payload == {"plan_id": p.id, "digest": p.digest}
    with db.unit_of_work() as s:
        assert s.scalar(select(Site.id)) is None  # nothing before the approval
    requests.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        children = list(s.scalars(select(Request).where(Request.kind != "bulk.apply").order_by(Request.id)))
        assert [c.kind for c in children] == ["sites.site_create", "mail.mailbox_create"]
        assert all(c.approvals[0].approver_name == f"bundle:{req.id}" for c in children)
        assert {x.fqdn for x in s.scalars(select(Site))} == {"www.a.gov.test", "shop.a.gov.test"}
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "bulk.approved")).one()
        assert p.digest in audit.summary
    report = bulk.bulk_report(world.wa, p.id)
    assert {r["status"] for r in report} == {"running"} and all(r["request_id"] for r in report)
    again = plan(world, ("sites.csv", SITES), ("mailboxes.csv", "address,display_name\nsok@a.gov.test,សុខ\n"))
    assert again.counts == {"noop": 3}
    with pytest.raises(Invalid) as e:
        bulk.bulk_submit(world.wa, again.id)
    assert e.value.key == "bulk.nothing_to_do"


def test_a_change_between_plan_and_approval_is_refused(world):
    p = plan(world, ("sites.csv", SITES))
    req = bulk.bulk_submit(world.wa, p.id)
    other = plan(world, ("sites.csv", "fqdn,plan\nwww.a.gov.test,basic\n"), actor=world.op)
    requests.request_approve(world.op2, bulk.bulk_submit(world.op, other.id).id)  # someone made one of its sites
    with pytest.raises(Conflict) as e:
        requests.request_approve(world.op, req.id)
    assert e.value.key == "bulk.plan_changed"
    with db.unit_of_work() as s:
        assert s.get(Request, req.id).status.value == "submitted"  # nothing half-applied
        assert s.scalar(select(Site.id).where(Site.fqdn == "shop.a.gov.test")) is None


def test_a_quota_change_between_plan_and_approval_is_refused(world):
    p = plan(world, ("sites.csv", SITES))
    req = bulk.bulk_submit(world.wa, p.id)
    quotas.quota_set(world.admin, org_id=world.a.id, resource="sites", limit=40, reason="more")
    with pytest.raises(Conflict) as e:
        requests.request_approve(world.op, req.id)
    assert e.value.key == "bulk.plan_changed"


def test_the_whole_plan_is_checked_against_the_budget_before_approval(world):
    quotas.quota_set(world.admin, org_id=world.a.id, resource="sites", limit=1, reason="small")
    p = plan(world, ("sites.csv", SITES))
    view = bulk.bulk_show(world.wa, p.id)
    assert not view.within_budget
    with pytest.raises(Exception) as e:
        bulk.bulk_submit(world.wa, p.id)
    assert e.value.key == "quota.sites"


def test_generated_passwords_are_delivered_once_and_nowhere_else(world):
    given = "Given-Passw0rd-xyz"
    p = bulk.bulk_plan(
        world.wa,
        org_id=world.a.id,
        files=[("mailboxes.csv", f"address,password\nnew@a.gov.test,\nold@a.gov.test,{given}\n")],
    )
    generated = p.passwords["new@a.gov.test"]
    assert list(p.passwords) == ["new@a.gov.test"] and len(generated) == 16
    with pytest.raises(Forbidden):
        bulk.bulk_passwords_take(world.op, plan_id=p.plan.id)
    _plan, taken = bulk.bulk_passwords_take(world.wa, plan_id=p.plan.id)
    assert taken == {"new@a.gov.test": generated}
    with pytest.raises(Conflict):
        bulk.bulk_passwords_take(world.wa, plan_id=p.plan.id)
    requests.request_approve(world.op, bulk.bulk_submit(world.wa, p.plan.id).id)
    report = json.dumps(bulk.bulk_report(world.wa, p.plan.id)) + bulk.report_csv(bulk.bulk_report(world.wa, p.plan.id))
    with db.unit_of_work() as s:
        dump = "\n".join(
            str(row)
            for table in ("bulk_plans", "bulk_rows", "requests", "audit_entries", "jobs", "mailboxes")
            for row in s.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (fixed table names)
        )
        assert s.get(BulkPlan, p.plan.id).secrets is None  # cleared once applied
        assert len(list(s.scalars(select(Mailbox)))) == 2
    for secret in (generated, given):
        assert secret not in dump and secret not in report


def test_templates_and_json_schema(world):
    assert bulk.bulk_template("sites").startswith("\ufefffqdn,aliases,plan")
    schema = bulk.bulk_json_schema()
    assert set(schema["properties"]) >= {"ministry", "sites", "mailboxes", "aliases", "dns_records"}
    assert schema["$defs"]["sites"]["required"] == ["fqdn", "plan"]
    assert schema["properties"]["sites"]["maxItems"] == bulk.MAX_ROWS
    assert set(schema["$defs"]["sites"]["properties"]) >= {"fqdn", "aliases", "mailboxes", "dns_records"}
    assert schema["$defs"]["sites"]["properties"]["aliases"]["type"] != "array"  # the site's names, not mail
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    assert not list(check.iter_errors(yaml.safe_load(NESTED)))
    wrong = {"ministry": "mina", "mailboxes": [{"address": "x@a.gov.test", "sites": []}]}
    assert [e.validator for e in check.iter_errors(wrong)] == ["additionalProperties"]


NESTED = """ministry: mina
sites:
  - fqdn: www.a.gov.test
    plan: basic
    mailboxes:
      - {address: info, display_name: "ព័ត៌មាន"}
      - {address: keo@a.gov.test}
    dns_records:
      - {name: mx, type: A, data: 10.87.0.251}
      - {zone: a.gov.test, name: "@", type: MX, data: "10 mx.a.gov.test."}
  - fqdn: shop.a.gov.test
    plan: basic
aliases:
  - {address: contact@a.gov.test, destinations: info@a.gov.test}
"""
FLAT = """ministry: mina
sites:
  - {fqdn: www.a.gov.test, plan: basic}
  - {fqdn: shop.a.gov.test, plan: basic}
mailboxes:
  - {address: info@a.gov.test, display_name: "ព័ត៌មាន"}
  - {address: keo@a.gov.test}
aliases:
  - {address: contact@a.gov.test, destinations: info@a.gov.test}
dns_records:
  - {zone: a.gov.test, name: mx, type: A, data: 10.87.0.251}
  - {zone: a.gov.test, name: "@", type: MX, data: "10 mx.a.gov.test."}
"""


def test_nested_file_plans_as_its_flat_twin(world):
    """ministry -> sites -> mailboxes / aliases / DNS records: a nested row takes the site's domain
    (an address without @, a record without a zone) and plans exactly as the same rows written flat."""
    nested, flat = plan(world, ("ministry.yaml", NESTED)), plan(world, ("flat.yaml", FLAT))

    def seen(p):
        return sorted((r.kind, r.key, r.action, json.dumps(r.data, sort_keys=True)) for r in rows(p.id))

    assert seen(nested) == seen(flat) and len(seen(nested)) == 7
    lines = {r.key: r.line for r in rows(nested.id)}
    assert lines["info@a.gov.test"] == 6 and lines["shop.a.gov.test"] == 11 and lines["contact@a.gov.test"] == 14
    as_json = json.dumps(yaml.safe_load(NESTED), ensure_ascii=False)
    assert seen(plan(world, ("ministry.json", as_json))) == seen(flat)


def test_nesting_is_checked(world):
    with pytest.raises(Invalid) as e:
        plan(world, ("m.yaml", "mailboxes:\n  - address: x@a.gov.test\n    sites: [{fqdn: y.a.gov.test}]\n"))
    assert e.value.key == "bulk.tree_nesting" and "line 2" in e.value.text()
    with pytest.raises(Invalid) as e:
        plan(world, ("m.yaml", "sites:\n  - fqdn: y.a.gov.test\n    plan: basic\n    dnsrecords: []\n"))
    assert e.value.key == "table.column_unknown"
    # a nested row that misses what its parent cannot give is an error of that row, with the others
    p = plan(world, ("m.yaml", "sites:\n  - fqdn: y.a.gov.test\n    plan: basic\n    dns_records: [{name: w}]\n"))
    bad = [(r.kind, r.line, sorted(e["column"] for e in r.errors)) for r in rows(p.id) if r.errors]
    assert bad == [("dns_records", 4, ["data", "type"])]


def test_a_changed_plan_or_size_is_an_update_run_as_its_own_request(world):
    requests.request_approve(world.op, bulk.bulk_submit(world.wa, plan(world, ("sites.csv", SITES)).id).id)
    with db.unit_of_work() as s:
        for site in s.scalars(select(Site)):
            site.status = SiteStatus.ACTIVE  # as the create job leaves them
        s.add(
            Mailbox(
                org_id=world.a.id,
                domain_id=world.doms["a"],
                local_part="keo",
                quota_mb=100,
                status=MailboxStatus.ACTIVE,
            )
        )
    p = plan(
        world,
        ("sites.csv", "fqdn,plan,aliases\nwww.a.gov.test,large,a.gov.test\nshop.a.gov.test,basic,x.a.gov.test\n"),
        ("mailboxes.csv", "address,quota_mb\nkeo@a.gov.test,300\n"),
    )
    got = {r.key: r.action for r in rows(p.id)}
    assert got == {"www.a.gov.test": "update", "shop.a.gov.test": "conflict", "keo@a.gov.test": "update"}
    p = plan(
        world,
        ("sites.csv", "fqdn,plan,aliases\nwww.a.gov.test,large,a.gov.test\n"),
        ("mailboxes.csv", "address,quota_mb\nkeo@a.gov.test,300\n"),
    )
    assert p.quota == {"disk_mb": 1900, "mail_storage_mb": 200}
    requests.request_approve(world.op, bulk.bulk_submit(world.wa, p.id).id)
    with db.unit_of_work() as s:
        kinds = [r.kind for r in s.scalars(select(Request).order_by(Request.id))][-2:]
    assert kinds == ["sites.site_change_plan", "mail.mailbox_quota"]


def test_aliases_of_a_domain_are_one_request_and_one_job(world):
    """Bulk aliases are batched: one mail.alias_batch request (one job on the mail host) per domain,
    not one request each; the same file again plans no-ops."""
    text = "address,destinations\r\n" + "".join(f"team{i}@a.gov.test,info@a.gov.test\r\n" for i in range(5))
    p = plan(world, ("aliases.csv", text))
    assert p.counts == {"create": 5}
    requests.request_approve(world.op, bulk.bulk_submit(world.wa, p.id).id)
    with db.unit_of_work() as s:
        made = list(s.scalars(select(Request).where(Request.kind.like("mail.alias%"))))
        assert [(r.kind, len(r.payload["aliases"])) for r in made] == [("mail.alias_batch", 5)]
        aliases = list(s.scalars(select(MailAlias).where(MailAlias.org_id == world.a.id)))
        assert sorted(a.address for a in aliases) == [f"team{i}@a.gov.test" for i in range(5)]
        assert {a.request_id for a in aliases} == {made[0].id}
        jobs = list(s.scalars(select(Job).where(Job.request_id == made[0].id)))
        assert len(jobs) == 1 and sorted(jobs[0].params["alias_ids"]) == sorted(a.id for a in aliases)
    assert {r["request_id"] for r in bulk.bulk_report(world.wa, p.id)} == {made[0].id}
    assert plan(world, ("aliases.csv", text)).counts == {"noop": 5}


def test_alias_batch_checks_every_alias(world):
    kind = request_kinds.get("mail.alias_batch")
    for items, key in (
        ([], "mail.alias_batch_invalid"),
        ([{"source": "x", "destinations": ["info@a.gov.test"]}] * 2, "mail.alias_duplicate"),
        ([{"source": "x", "destinations": ["x@a.gov.test"]}], "mail.alias_loop"),
    ):
        with pytest.raises((Invalid, Conflict)) as e:
            kind.validate(world.wa, world.a, {"domain_id": world.doms["a"], "aliases": items})
        assert e.value.key == key


def test_alias_batches_stay_within_the_payload_limit():
    from panel.capabilities.mail import bulk as mail_bulk

    rows = [
        {"address": f"a{i}@a.gov.test", "destinations": [f"d{j}.{i}@a.gov.test" for j in range(40)]} for i in range(400)
    ]
    parts = mail_bulk._alias_batches(rows)
    assert len(parts) > 1 and sum(map(len, parts)) == 400 and [r for p in parts for r in p] == rows
    for part in parts:
        assert len(json.dumps({"aliases": part})) <= requests.MAX_PAYLOAD * 20
    small = [{"address": f"a{i}@a.gov.test", "destinations": ["x@a.gov.test"]} for i in range(2500)]
    assert [len(p) for p in mail_bulk._alias_batches(small)] == [1000, 1000, 500]


def test_limits_are_refused_with_their_key_and_nothing_stored(world, monkeypatch):
    """docs/bulk.md "Limits": each limit is a clear error, never a silent cap. A YAML file of aliases
    (`- *site` repeated, each holding a list of mailboxes) stops at the row limit without building
    the rows past it, and thousands of nested brackets are a message, not the parser's stack."""
    box_list = ", ".join(f"{{address: u{i}}}" for i in range(100))
    bomb = f"ministry: mina\nsites:\n- &s {{fqdn: www.a.gov.test, plan: basic, mailboxes: [{box_list}]}}\n"
    bomb += "- *s\n" * 5000  # 30 KB that would be 505,000 rows
    built = []
    real = bulk.RawRow
    monkeypatch.setattr(bulk, "RawRow", lambda *a: built.append(1) or real(*a))
    cases = [
        ([(f"sites-{i}.csv", "fqdn,plan\n") for i in range(bulk.MAX_FILES + 1)], "bulk.too_many_files"),
        ([("sites.csv", b"fqdn,plan\n" + b"#" * bulk.MAX_UPLOAD)], "table.file_too_large"),
        ([("sites.csv", "fqdn,plan\n" + "x.a.gov.test,basic\n" * (bulk.MAX_ROWS + 1))], "table.too_many_rows"),
        (
            [("sites-1.csv", "fqdn,plan\n" + "x.a.gov.test,basic\n" * (bulk.MAX_ROWS // 2 + 1))] * 2,
            "bulk.too_many_rows",
        ),
        ([("all.yaml", "ministry: mina\nsites: " + "[" * 20000)], "table.yaml_too_deep"),
        ([("all.yaml", bomb)], "bulk.too_many_rows"),
    ]
    for files, key in cases:
        built.clear()
        with pytest.raises(Invalid) as e:
            plan(world, *files)
        assert e.value.key == key, (key, e.value)
    assert len(built) == bulk.MAX_ROWS + 1  # the YAML: one row past the limit, not 505,000
    with db.unit_of_work() as s:
        assert s.scalar(select(BulkPlan.id)) is None


def test_the_plan_shows_the_budget_impact_and_where_rows_go(world):
    """docs/bulk.md "Plan": the budget impact of the whole plan per resource and the placement
    preview (the host each batch would go to), before anything is submitted."""
    p = plan(world, ("sites.csv", SITES), ("mailboxes.csv", "address,quota_mb\nsok@a.gov.test,300\n"))
    view = bulk.bulk_show(world.wa, p.id)
    impact = {r.resource: (r.used, r.asked) for r in view.impact}
    assert impact["sites"] == (0, 2) and impact["mailboxes"] == (0, 1) and impact["mail_storage_mb"] == (0, 300)
    assert view.within_budget and all(r.ok for r in view.impact)
    assert any(line.startswith("2 sites (plan basic") and line.endswith(" on web1") for line in view.placement)
    assert "1 mail rows on mx1" in view.placement, view.placement
