"""`govhost audit verify` finds every kind of tampering done behind the panel's back, and exports
verify offline."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from panel import db
from panel.models.audit import AuditEntry
from panel.services import audit, tenants
from tests.support.surfaces import cli_text


@pytest.fixture
def chain(world):
    """Six entries written by real service calls (the world's own rows come from factories)."""
    admin = world.actor("admin", "cli")
    for i in range(1, 5):
        tenants.org_create(admin, slug=f"min{i}", name=f"Ministry {i}", kind="ministry")
    tenants.org_update(admin, id=world.a.id, name="MPTC")
    tenants.org_update(admin, id=world.b.id, name="MoH")
    return 6


def sql(*statements: str) -> None:
    with db.engine().begin() as conn:
        for stmt in statements:
            conn.execute(text(stmt))


def broken(cli, *args) -> str:
    r = cli("audit", "verify", *args)
    assert r.exit_code != 0, r.output
    assert "BROKEN" in r.output
    return cli_text(r)


def test_intact_chain_verifies(chain, cli):
    r = cli("audit", "verify")
    assert r.exit_code == 0 and f"{chain} entries verified" in r.output


def test_deleting_a_user_or_organization_named_by_entries_is_refused(chain, cli):
    """actor_id and org_id are hashed: were the database to null them on a delete (ON DELETE SET
    NULL), verify would report tampering nobody did. The foreign keys restrict instead: users and
    organizations are deactivated, never deleted while an entry names them."""
    for stmt in (
        "DELETE FROM users WHERE username = 'dcadmin'",  # the actor of every entry of the chain
        "DELETE FROM organizations WHERE slug = 'min1'",  # named by its org.create entry only
    ):
        with pytest.raises(IntegrityError):
            sql(stmt)
    r = cli("audit", "verify")
    assert r.exit_code == 0 and f"{chain} entries verified" in r.output, r.output


def test_edited_summary(chain, cli):
    sql("""UPDATE audit_entries SET summary = '{"name":"forged"}' WHERE seq = 3""")
    out = broken(cli)
    assert "entry 3" in out and "edited" in out


def test_edited_actor(chain, cli):
    sql("UPDATE audit_entries SET actor_name = 'someone-else' WHERE seq = 2")
    assert "entry 2" in broken(cli)


def test_deleted_row(chain, cli):
    sql("DELETE FROM audit_entries WHERE seq = 4")
    out = broken(cli)
    assert "entry 4 is missing" in out


def test_deleted_last_row(chain, cli):
    sql("DELETE FROM audit_entries WHERE seq = (SELECT MAX(seq) FROM audit_entries)")
    out = broken(cli)
    assert f"the entries after {chain - 1} were deleted" in out


def test_inserted_row_with_a_valid_hash(chain, cli):
    """A forger who knows the chain format appends a well-formed entry without the head: caught."""
    with db.unit_of_work() as s:
        last = s.execute(text("SELECT hash FROM audit_entries WHERE seq = :seq"), {"seq": chain}).scalar()
    row = {
        "seq": chain + 1,
        "created_at": db.utcnow(),
        "actor_id": None,
        "actor_name": "ghost",
        "org_id": None,
        "action": "org.create",
        "object_type": "organization",
        "object_id": "999",
        "summary": "{}",
        "surface": "cli",
        "client_addr": "",
        "request_id": "x",
        "prev_hash": last,
    }
    row["hash"] = audit.chain_hash(last, audit.canonical(row))
    with db.engine().begin() as conn:
        conn.execute(insert(AuditEntry.__table__), [row])
    out = broken(cli)
    assert "inserted" in out


def test_inserted_row_in_the_middle(chain, cli):
    sql(
        "UPDATE audit_entries SET seq = seq + 100 WHERE seq >= 3",
        "UPDATE audit_entries SET seq = seq - 99 WHERE seq >= 103",
    )
    with db.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_entries (seq, created_at, actor_name, action, object_type, object_id, "
                "summary, surface, client_addr, request_id, prev_hash, hash) VALUES (3, :ts, 'ghost', "
                "'org.create', 'organization', '1', '{}', 'cli', '', '', :p, :p)"
            ),
            {"ts": db.utcnow(), "p": "f" * 64},
        )
    assert "entry 3" in broken(cli)


def test_reordered_rows(chain, cli):
    sql(
        "UPDATE audit_entries SET seq = -2 WHERE seq = 2",
        "UPDATE audit_entries SET seq = 2 WHERE seq = 4",
        "UPDATE audit_entries SET seq = 4 WHERE seq = -2",
    )
    assert "entry 2" in broken(cli)


def test_head_replaced(chain, cli):
    sql("UPDATE audit_head SET hash = '" + "a" * 64 + "'")
    assert "replaced" in broken(cli)


def test_export_verifies_offline_and_catches_edits(chain, cli, tmp_path):
    path = tmp_path / "export.jsonl"
    r = cli("audit", "export", "-o", str(path))
    assert r.exit_code == 0, r.output
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == chain + 1 and json.loads(lines[-1])["head"]["seq"] == chain
    assert cli("audit", "verify", "--file", str(path)).exit_code == 0
    sql("DELETE FROM audit_entries")  # offline means offline: the database is not consulted
    assert cli("audit", "verify", "--file", str(path)).exit_code == 0

    def variant(name: str, new_lines: list[str]) -> str:
        p = tmp_path / name
        p.write_text("\n".join(new_lines) + "\n", encoding="utf-8")
        return broken(cli, "--file", str(p))

    edited = json.loads(lines[2])
    edited["summary"] = '{"name":"forged"}'
    assert "entry 3" in variant("edited.jsonl", [*lines[:2], json.dumps(edited), *lines[3:]])
    assert "entry 2 is missing" in variant("deleted.jsonl", [lines[0], *lines[2:]])
    assert "deleted" in variant("truncated.jsonl", [*lines[:-2], lines[-1]])
    assert "head line" in variant("headless.jsonl", lines[:-1])
    assert "entry 2" in variant("swapped.jsonl", [lines[0], lines[2], lines[1], *lines[3:]])
    assert "not an audit entry" in variant("garbage.jsonl", [lines[0], "{not json", *lines[1:]])


def test_export_to_stdout_and_missing_file(chain, cli, tmp_path):
    r = cli("audit", "export")
    assert r.exit_code == 0 and r.output.count('"hash"') == chain + 1
    r = cli("audit", "verify", "--file", str(tmp_path / "nope.jsonl"))
    assert r.exit_code == 2


def test_ministry_admin_cannot_verify_or_export(chain, cli):
    for args in (("verify",), ("export",)):
        r = cli("audit", *args, "--as", "a_admin")
        assert r.exit_code == 2 and "roles" in r.output
