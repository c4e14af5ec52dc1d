from panel import db
from panel.services import audit


def test_chain_appends_and_verifies(booted, make):
    user = make.make_user("admin")
    actor = make.actor_of(user)
    with db.unit_of_work():
        for i in range(5):
            audit.append(actor, "test.thing", object_type="thing", object_id=i, summary={"n": i, "password": "x"})
    result = audit.audit_verify(actor)
    assert result.ok and result.checked == 5
