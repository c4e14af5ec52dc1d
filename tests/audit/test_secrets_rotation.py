"""Key rotation re-encrypts every sealed column: afterwards the old key opens nothing, the new one all."""

from __future__ import annotations

import pytest

from panel import db, security
from panel.errors import Forbidden
from panel.models.users import User
from panel.services import secrets
from tests.conftest import settings_dict
from tests.support.surfaces import audit_count


def sealed_values() -> list[str]:
    with db.unit_of_work() as s:
        return [u.totp_secret for u in s.query(User).filter(User.totp_secret.is_not(None)).order_by(User.id)]


def test_rotation_with_two_keys(world, make, cli, tmp_path):
    new_key, old_key = settings_dict(tmp_path, "")["secret_keys"]
    security.configure([old_key])  # values written while only the old key existed
    plain = [f"JBSWY3DPEHPK3PX{i}" for i in range(3)]
    for i, p in enumerate(plain):
        make.make_user("webmaster", world.a, username=f"totp{i}", totp_secret=p)
    before = audit_count("secrets.rotate")
    r = cli("secrets", "rotate")  # the config lists [new, old]
    assert r.exit_code == 0 and "re-encrypted 3 secrets" in r.output
    assert audit_count("secrets.rotate") == before + 1
    rotated = sealed_values()
    security.configure([new_key])
    assert [security.unseal(v) for v in rotated] == plain
    security.configure([old_key])
    for v in rotated:
        with pytest.raises(ValueError):
            security.unseal(v)


def test_undecryptable_value_stops_everything(world, make, tmp_path):
    security.configure([security.new_fernet_key()])
    make.make_user("webmaster", world.a, username="stray", totp_secret="JBSWY3DPEHPK3PXP")
    new_key, old_key = settings_dict(tmp_path, "")["secret_keys"]
    security.configure([old_key])
    make.make_user("webmaster", world.a, username="good", totp_secret="JBSWY3DPEHPK3PXQ")
    before = sealed_values()
    security.configure([new_key, old_key])
    with pytest.raises(Exception, match="cannot be decrypted"):
        secrets.secrets_rotate(world.actor("admin", "cli"))
    assert sealed_values() == before


def test_only_admins_rotate(world):
    for who in ("auditor", "operator", "a_admin"):
        with pytest.raises(Forbidden):
            secrets.secrets_rotate(world.actor(who))


def test_new_key_is_a_usable_key(cli):
    r = cli("secrets", "new-key")
    key = r.output.strip()
    assert r.exit_code == 0 and security.SecretBox([key]).unseal(security.SecretBox([key]).seal("x")) == "x"
