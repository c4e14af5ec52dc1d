"""Ministry B's webmaster and org_admin get 404 on every route that names one of ministry A's objects.

The routes come from app.url_map, so a new route with an id is covered the day it is added. Each call
must answer 404, answer exactly what a non-existent id answers (existence does not leak), and leave
every table as it was.
"""

from __future__ import annotations

import re

import pytest

from tests.security.conftest import snapshot
from tests.support.surfaces import api_headers, web_login

MISSING = 987654  # an id no row has
PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
# Bodies that would pass validation, so the answer depends on scoping alone.
API_BODY = {
    "api_cms.instance_action": {"action": "suspend"},
    "api_cms.app_password_issue": {"name": "Evil app"},
    "api_cms.staging_create": {"fqdn": "staging.b.gov.kh"},
    "api_colocation.server_advance": {"status": "racked"},
    "api_colocation.server_hand_over": {"management": "customer"},
    "api_databases.user_create": {"name": "evil", "profile": "owner"},
    "api_databases.user_grant": {"database_id": 1, "profile": "owner"},
    "api_databases.user_password": {},
    "api_databases.server_setup": {"engines": ["mariadb"]},
    "api_databases.link_set": {"workload_id": 1},
    "api_databases.remote_request": {
        "cidr": "203.0.113.0/24",
        "reason": "Reporting office",
        "expires_at": "2099-01-01",
    },
    "api_dns.record_create": {"name": "www", "type": "A", "data": "192.0.2.9"},
    "api_dns.record_update": {"data": "192.0.2.9"},
    "api_dns.zone_apply": {"dry_run": False},
    "api_dns.suffix_set": {"suffixes": ["b.gov.kh"]},
    "api_hosts.host_update": {"capacities": {"sites": 5}},
    "api_mail.alias_create": {"source": "x", "destinations": ["info@a.gov.kh"]},
    "api_mail.mailbox_create": {"mailboxes": [{"local_part": "x", "password": "Str0ng-pass-phrase"}]},
    "api_mail.mailbox_password": {"password": "Str0ng-pass-phrase"},
    "api_mail.mailbox_quota": {"quota_mb": 200},
    "api_orgs.org_update": {"name": "Mine"},
    "api_quotas.quota_set": {"resource": "sites", "limit": 99},
    "api_requests.request_approve": {"comment": "ok"},
    "api_requests.request_reject": {"comment": "no"},
    "api_requests.request_cancel": {"comment": "stop"},
    "api_requests.request_comment": {"body": "hello"},
    "api_sites.site_action": {"action": "suspend"},
    "api_sites.site_cert_upload": {"certificate": "x", "private_key": "x"},
    "api_sites.sftp_key_add": {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG3l b@b"},
    "api_sites.custom_nginx_set": {"custom_nginx": "# nothing"},
    "api_users.user_set_role": {"org_id": "@b", "role": "webmaster"},  # pull A's user into B
    "api_soc.destination_update": {"name": "siem", "transport": "file", "target": "/tmp/soc.jsonl"},
    "api_soc.destination_rewind": {"seq": 1},
}
WEB_FORM = {
    "colocation.server_receive": {"name": "evil", "address": "192.0.2.21"},
    "colocation.server_hand_over": {"management": "customer"},
    "databases.user_new": {"name": "evil", "profile": "owner"},
    "databases.user_grant": {"database_id": 1, "profile": "owner"},
    "databases.server_setup": {"engine": "mariadb"},
    "databases.link_new": {"workload_id": "1"},
    "databases.remote_new": {"cidr": "203.0.113.0/24", "reason": "Reporting office", "expires_at": "2099-01-01"},
    "dns.record_create": {"name": "www", "rtype": "A", "data": "192.0.2.9"},
    "hosts.edit": {"capacity_sites": "5"},
    "mail.alias_new": {"source": "x", "destinations": "info@a.gov.kh"},
    "mail.mailboxes_new": {"local_parts": "x", "password": "Str0ng-pass-phrase"},
    "mail.mailbox_password": {"password": "Str0ng-pass-phrase", "confirm": "Str0ng-pass-phrase"},
    "mail.mailbox_quota": {"quota_mb": "200"},
    "orgs.update": {"name": "Mine"},
    "quotas.set_limit": {"resource": "sites", "limit": "99"},
    "requests.approve": {"comment": "ok"},
    "requests.reject": {"comment": "no"},
    "requests.cancel": {"comment": "stop"},
    "requests.comment": {"body": "hello"},
    "sites.alias_add": {"alias": "b.gov.kh"},
    "sites.change_plan": {"plan": "basic"},
    "sites.custom_nginx": {"text": "# nothing"},
    "sites.sftp_key_add": {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG3l b@b"},
    "users.set_role": {"org_id": "@b", "role": "webmaster"},
}


def routes_with_ids(app, api: bool):
    """(endpoint, method, url for A's objects, url for missing ids) for every route taking an id."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") != api or not rule.arguments or rule.endpoint == "static":
            continue
        if rule.arguments <= {"kind"}:
            continue  # /requests/new/<kind>: a kind name, not an object
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield from ((rule.endpoint, method, *urls) for urls in _expand(rule.rule))


def _expand(rule: str):
    """Fill each parameter with A's id (and with a missing one); `any(...)` yields each choice."""
    choices = [m for m in PARAM.finditer(rule) if m.group(1) == "any"]
    for opt in [c.strip() for c in choices[0].group(2).split(",")] if choices else [None]:
        yield (
            _fill(rule, opt, lambda name: WORLD_IDS[name]),
            _fill(rule, opt, lambda name: MISSING if name != "alias" else "zz.gov.kh"),
        )


def _fill(rule: str, opt, ids) -> str:
    return PARAM.sub(lambda m: opt if m.group(1) == "any" else str(ids(m.group(3))), rule)


WORLD_IDS: dict = {}
# Answers that do not depend on the id at all (checked: identical to a missing id's, nothing changes).
SAME_FOR_ANY_ID = {
    # marks read only the actor's own notifications; "0 marked" whatever the id
    *((200, e) for e in ("notifications.read_one", "api_notifications.notification_read")),
    # role checks that run before any lookup: a webmaster may not manage users, ministries may not set quotas
    *(
        (403, e)
        for e in (
            "users.detail",
            "users.set_role",
            "users.reset_password",
            "users.reset_2fa",
            "users.deactivate",
            "users.end_sessions",
            "api_users.user_get",
            "api_users.user_set_role",
            "api_users.user_reset_password",
            "api_users.user_reset_2fa",
            "api_users.user_end_sessions",
            "api_quotas.quota_set",
            "api_sites.custom_nginx_set",
            "api_cms.instance_hardening_check",  # data-center staff only
            # the SOC feed's destinations are data-center staff's: ministries are refused before any lookup
            "soc.delete",
            "api_soc.destination_get",
            "api_soc.destination_update",
            "api_soc.destination_delete",
            "api_soc.destination_rewind",
            # four-eyes decisions are the SOC's and DC admins': refused before any lookup
            "soc.pending_approve",
            "soc.pending_reject",
            "api_soc.pending_approve",
            "api_soc.pending_reject",
        )
    ),
}


def _same(resp, ref) -> bool:
    """Same status and key; JSON bodies equal too (HTML differs by its CSRF token and request id)."""
    return (resp.status_code, _key(resp), _json(resp)) == (ref.status_code, _key(ref), _json(ref))


def _json(resp) -> bytes:
    return resp.get_data() if resp.is_json else b""


def _body(table: dict, endpoint: str, as_text: bool) -> dict:
    b_org = WORLD_IDS["b_org"]
    out = {k: (b_org if v == "@b" else v) for k, v in table.get(endpoint, {}).items()}
    return {k: str(v) for k, v in out.items()} if as_text else out


def _call(client, method: str, url: str, endpoint: str, api: bool, headers: dict):
    if api:
        body = _body(API_BODY, endpoint, False) if method != "GET" else None
        return client.open(url, method=method, json=body, headers=headers)
    # Follow the redirect a web form answers with: the page it lands on must be the 404.
    return client.open(
        url, method=method, data=_body(WEB_FORM, endpoint, True) if method != "GET" else None, follow_redirects=True
    )


def _key(resp) -> str:
    if resp.mimetype == "application/problem+json":
        return (resp.get_json() or {}).get("key", "")
    return ""


@pytest.mark.parametrize("who", ["b_web", "b_admin"])
@pytest.mark.parametrize("surface", ["web", "api"])
def test_other_ministry_gets_404_everywhere(world, app, client, csrf_off, who, surface):
    WORLD_IDS.clear()
    WORLD_IDS.update(world.ids, b_org=world.b.id)
    api = surface == "api"
    user = getattr(world, who)
    headers = api_headers(user) if api else {}
    if not api:
        web_login(app, client, user)
    before = snapshot()
    failures, seen = [], 0
    for endpoint, method, url, missing_url in routes_with_ids(app, api):
        seen += 1
        resp = _call(client, method, url, endpoint, api, headers)
        ref = _call(client, method, missing_url, endpoint, api, headers)
        text = resp.get_data(as_text=True)
        if (resp.status_code, endpoint) in SAME_FOR_ANY_ID and _same(resp, ref):
            pass
        elif resp.status_code != 404:
            failures.append(f"{method} {url} ({endpoint}): {resp.status_code} {_key(resp)}")
        elif (ref.status_code, _key(ref)) != (resp.status_code, _key(resp)):
            failures.append(f"{method} {url} ({endpoint}): differs from a missing id: {ref.status_code} {_key(ref)}")
        elif any(secret in text for secret in ("www.a.gov.kh", "Ministry A", "a_admin")):
            failures.append(f"{method} {url} ({endpoint}): the answer names A's object")
        after = snapshot()
        if after != before:
            changed = sorted(t for t in after if after[t] != before[t])
            failures.append(f"{method} {url} ({endpoint}): changed tables {changed}")
            before = after
    assert seen > 50, seen  # the route walk itself works
    assert not failures, "\n".join(failures)


def test_owner_reaches_the_same_routes(world, app, client):
    """The matrix is not vacuous: A's own org_admin sees the detail pages B cannot."""
    web_login(app, client, world.a_admin)
    ids = world.ids
    for url in (
        f"/sites/{ids['site_id']}",
        f"/dns/zones/{ids['zone_id']}",
        f"/requests/{ids['request_id']}",
        f"/jobs/{ids['job_id']}",
        f"/mail/domains/{ids['domain_id']}",
        f"/mail/mailboxes/{ids['mailbox_id']}",
        f"/databases/{ids['database_id']}",
        f"/databases/users/{ids['db_user_id']}",
        f"/databases/consoles/{ids['console_id']}",
        f"/orgs/{ids['org_id']}",
        f"/users/{ids['user_id']}",
        f"/colocation/racks/{ids['rack_id']}",
        f"/colocation/reservations/{ids['reservation_id']}",
        f"/colocation/visitors/{ids['pass_id']}",
        f"/colocation/servers/{ids['server_id']}",
    ):
        assert client.get(url).status_code == 200, url
    h = api_headers(world.a_admin)
    for url in (
        f"/api/v1/sites/{ids['site_id']}",
        f"/api/v1/dns/zones/{ids['zone_id']}",
        f"/api/v1/jobs/{ids['job_id']}",
        f"/api/v1/mail/mailboxes/{ids['mailbox_id']}",
        f"/api/v1/databases/{ids['database_id']}",
        f"/api/v1/databases/users/{ids['db_user_id']}",
        f"/api/v1/databases/consoles/{ids['console_id']}",
        f"/api/v1/requests/{ids['request_id']}",
        f"/api/v1/users/{ids['user_id']}",
        f"/api/v1/colocation/racks/{ids['rack_id']}",
        f"/api/v1/colocation/reservations/{ids['reservation_id']}",
        f"/api/v1/colocation/visitors/{ids['pass_id']}",
        f"/api/v1/colocation/servers/{ids['server_id']}",
    ):
        assert client.get(url, headers=h).status_code == 200, url
