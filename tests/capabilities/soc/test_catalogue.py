"""Every catalogue line against the standards it claims: OCSF 1.5.0 class and activity ids and
ECS 8.11 categorization (allowed values, and the event types ECS expects for each category).

The tables below were read from the standards' own definitions (OCSF's activity_id enums per
class, ECS's "expected event types" per event.category), not from the code under test."""

from __future__ import annotations

from panel.capabilities.soc import catalogue

# OCSF 1.5.0: class uid -> (name, {activity id: name}) for the classes the catalogue uses.
OCSF = {
    1006: ("Scheduled Job Activity", {1: "Create", 2: "Update", 3: "Delete", 4: "Enable", 5: "Disable",
                                      6: "Start", 99: "Other"}),
    2004: ("Detection Finding", {1: "Create", 2: "Update", 3: "Close", 99: "Other"}),
    3001: ("Account Change", {1: "Create", 2: "Enable", 3: "Password Change", 4: "Password Reset", 5: "Disable",
                              6: "Delete", 7: "Attach Policy", 8: "Detach Policy", 9: "Lock",
                              10: "MFA Factor Enable", 11: "MFA Factor Disable", 12: "Unlock", 99: "Other"}),
    3002: ("Authentication", {1: "Logon", 2: "Logoff", 3: "Authentication Ticket", 4: "Service Ticket Request",
                              5: "Service Ticket Renew", 6: "Preauth", 99: "Other"}),
    3004: ("Entity Management", {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 5: "Move", 6: "Enroll",
                                 7: "Unenroll", 8: "Enable", 9: "Disable", 10: "Activate", 11: "Deactivate",
                                 12: "Suspend", 13: "Resume", 99: "Other"}),
    3005: ("User Access Management", {1: "Assign Privileges", 2: "Revoke Privileges", 99: "Other"}),
}  # fmt: skip
# ECS: expected event.type values per event.category (the categories the catalogue uses).
ECS_EXPECTED = {
    "authentication": {"start", "end", "info"},
    "configuration": {"access", "change", "creation", "deletion", "info"},
    "database": {"access", "change", "info", "error"},
    "host": {"access", "change", "end", "info", "start"},
    "iam": {"admin", "change", "creation", "deletion", "group", "info", "user"},
    "intrusion_detection": {"allowed", "denied", "info"},
    "network": {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"},
    "process": {"access", "change", "end", "info", "start"},
    "session": {"start", "end", "info"},
}


def test_ocsf_class_and_activity_ids_exist_with_those_names():
    assert catalogue.OCSF_VERSION == "1.5.0"
    for et in catalogue.all_types():
        name, activities = OCSF[et.ocsf_class]
        assert catalogue.OCSF_CLASSES[et.ocsf_class] == name, et.id
        assert activities.get(et.ocsf_activity) == et.ocsf_activity_name, (et.id, et.ocsf_activity)


def test_ecs_values_are_allowed_and_each_type_is_expected_by_one_of_the_categories():
    for et in catalogue.all_types():
        assert et.kind in catalogue.ECS_KINDS and et.outcome in catalogue.ECS_OUTCOMES, et.id
        assert set(et.category) <= set(catalogue.ECS_CATEGORIES), et.id
        expected = set().union(*(ECS_EXPECTED[c] for c in et.category))
        assert set(et.type) <= expected, (et.id, et.category, et.type)


def test_rendered_event_carries_the_ocsf_version_and_type_uid():
    from types import SimpleNamespace

    row = SimpleNamespace(
        seq=7, action="soc.contain", summary='{"action": "user_lock", "reason": "x"}', actor_name="soc1",
        actor_id=3, object_type="user", object_id="9", org_id=None, created_at="2026-12-06 20:00:00.000000",
        hash="a" * 64, prev_hash="b" * 64, surface="api", client_addr="", request_id="",
    )  # fmt: skip
    ocsf = catalogue.event_of(row)["ocsf"]
    assert ocsf["version"] == "1.5.0" and ocsf["type_uid"] == 300412 and ocsf["activity_name"] == "Suspend"
