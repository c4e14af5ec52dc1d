"""`govhost bulk ...` as an operator types it: plan (table and JSON), exit 2 on bad input, the 0600
passwords file, submit/approve by named people, report as CSV and JSON, templates and schema."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

from panel.models.tenants import Role


def test_plan_submit_approve_report(cli, world, make, tmp_path):
    wa = make.make_user(Role.ORG_ADMIN, world.a, username="webmaster-a")
    make.make_user(Role.OPERATOR, username="op-cli")
    sites = tmp_path / "sites.csv"
    sites.write_text("fqdn,plan\nwww.a.gov.test,basic\n")
    boxes = tmp_path / "mailboxes.csv"
    boxes.write_bytes("\ufeffaddress,display_name\r\nsok@a.gov.test,សុខ\r\n".encode())
    out = tmp_path / "pw.csv"
    r = cli("bulk", "plan", str(sites), str(boxes), "--org", "mina", "--as", wa.username, "--passwords-out", str(out))
    assert r.exit_code == 0, r.output
    assert "2 create" in r.output and "sok@a.gov.test" in r.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    password = out.read_text().strip().split(",")[1]
    assert len(password) == 16 and password not in r.output
    j = cli("bulk", "plan", str(sites), "--org", "mina", "--json", "--as", wa.username)
    plan = json.loads(j.output)
    assert plan["counts"] == {"create": 1} and plan["rows"][0]["line"] == 2
    first = int(r.output.split("plan #")[1].split()[0])
    assert cli("bulk", "submit", str(first), "--as", wa.username).exit_code == 0
    again = cli("bulk", "submit", str(first), "--as", wa.username)
    assert again.exit_code == 2 and "bulk.submitted" in again.output
    ok = cli("bulk", "approve", str(first), "--as", "op-cli")
    assert ok.exit_code == 0, ok.output
    rep = cli("bulk", "report", str(first), "--as", wa.username)
    rows = list(csv.DictReader(io.StringIO(rep.output)))
    assert [(x["key"], x["action"]) for x in rows] == [("www.a.gov.test", "create"), ("sok@a.gov.test", "create")]
    assert all(x["request_id"] for x in rows) and password not in rep.output
    as_json = json.loads(cli("bulk", "report", str(first), "--format", "json", "--as", wa.username).output)
    assert as_json[1]["file"] == "mailboxes.csv" and as_json[1]["line"] == 2
    # no worker runs the jobs here: watch shows the bars at 0 of 2 and gives up at its timeout, exit 1
    w = cli("bulk", "watch", str(first), "--timeout", "1", "--as", wa.username)
    assert w.exit_code == 1 and "0/2" in w.output and "2 row(s) still running after 1 s" in w.output, w.output


def test_bad_input_is_a_message_and_exit_2(cli, world, make, tmp_path):
    wa = make.make_user(Role.ORG_ADMIN, world.a, username="webmaster-a2")
    bad = tmp_path / "sites.csv"
    bad.write_text("fqdn;plan\nx.a.gov.test;basic\n")
    r = cli("bulk", "plan", str(bad), "--org", "mina", "--as", wa.username)
    assert r.exit_code == 2 and "table.delimiter" in r.output and "Traceback" not in r.output
    rows = tmp_path / "sites-2.csv"
    rows.write_text("fqdn,plan\nbad name,basic\nok.a.gov.test,nosuchplan\n")
    r = cli("bulk", "plan", str(rows), "--org", "mina", "--as", wa.username)
    assert r.exit_code == 2 and "sites-2.csv:2" in r.output and "sites-2.csv:3" in r.output
    assert cli("bulk", "plan", str(tmp_path / "missing.csv"), "--org", "mina").exit_code == 2
    assert cli("bulk", "template", "nope").exit_code == 2
    assert cli("bulk", "template", "sites").output.startswith("\ufefffqdn,")
    assert "dns_records" in json.loads(cli("bulk", "schema").output)["properties"]


def test_excel_unicode_text_plans(cli, world, make):
    """Issue 18: the CLI reads Excel's "Unicode text" (UTF-16 with its mark, tabs) as CSV."""
    wa = make.make_user(Role.ORG_ADMIN, world.a, username="webmaster-a3")
    path = Path(__file__).parent / "files" / "mailboxes-unicode.txt"
    r = cli("bulk", "plan", str(path), "--org", "mina", "--json", "--as", wa.username)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)
    assert plan["counts"] == {"create": 2}
    assert [(x["key"], x["line"]) for x in plan["rows"]] == [("sok@a.gov.test", 2), ("dara@a.gov.test", 3)]
