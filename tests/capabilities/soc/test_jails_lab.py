"""The mail and WordPress jails on real lab hosts, installed by govhost's playbook on the hosts'
roles: a mail host (postfix and dovecot set up by govhost's own mail.server job) bans the address of
a lab host that fails SASL logins on submission (jail postfix-sasl) and of one that fails IMAP logins
(jail dovecot); a web host protected before it had any site bans a lab host that POSTs wrong
passwords to /wp-login.php and calls /xmlrpc.php on a site made afterwards (jail govhost-wordpress).
The site is an ordinary govhost site with a WordPress-like wp-login.php (a PHP page answering 200, as
WordPress answers a failed login), not a WordPress install: the jail reads nginx's access log, which
is the same for both. Each ban reaches the panel as a host.ban audit entry and its feed event."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites.models import Plan, Site
from panel.capabilities.soc import hostguard, ship
from panel.capabilities.soc import service as svc
from panel.models.audit import AuditEntry
from panel.models.tenants import Role
from panel.services import jobs as jobs_svc
from panel.services import requests as requests_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.soc.conftest import assert_ran, host_sh, run_pending_jobs, wait_until
from tests.support.factories import make_lab_host

pytestmark = pytest.mark.lab

FQDN = "www.mpt.gov.test"

# Run on an attacking lab host: N connections, each one failed login (TLS not verified: the attacker
# does not care). Connections refused or timing out once banned are expected, hence the broad except.
SASL = """
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
for i in range({n}):
    try:
        s = smtplib.SMTP("{ip}", 587, timeout=5)
        s.starttls(context=ctx)
        s.login(f"nobody{{i}}@mpt.gov.test", "wrong password")
    except smtplib.SMTPAuthenticationError as e:
        print("refused", e.smtp_code)
    except Exception as e:
        print("error", type(e).__name__)
"""
IMAP = """
import imaplib, ssl
ctx = ssl._create_unverified_context()
for i in range({n}):
    try:
        c = imaplib.IMAP4_SSL("{ip}", 993, ssl_context=ctx, timeout=5)
        c.login(f"nobody{{i}}@mpt.gov.test", "wrong password")
    except imaplib.IMAP4.error as e:
        print("refused", e)
    except Exception as e:
        print("error", type(e).__name__)
"""


def _py(host: str, script: str) -> str:
    return L.host_exec(host, "timeout", "120", "python3", "-c", script, check=False, timeout=130).stdout


def _port(src: str, ip: str, port: int) -> str:
    return host_sh(src, f"timeout 4 bash -c '</dev/tcp/{ip}/{port}' && echo open || echo closed").strip()


def _banned(host: str, jail: str, ip: str, timeout: float = 40) -> None:
    try:
        wait_until(lambda: ip in host_sh(host, f"fail2ban-client status {jail}"), timeout)
    except AssertionError:  # what an operator would look at
        print(host_sh(host, "tail -30 /var/log/fail2ban.log; cat /etc/fail2ban/jail.d/govhost.local"))
        raise


def _bans(*pairs) -> set:
    with db.unit_of_work() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "host.ban"))
        seen = {(json.loads(r.summary)["jail"], json.loads(r.summary)["address"]) for r in rows}
    assert set(pairs) <= seen, seen
    return seen


def _feed(dest_id: int, path, jail: str, address: str, host: str, also_ok: str = "") -> None:
    """The jail's ban of `address` reached the feed destination (once). `also_ok`: an address the jail
    may have banned too (a SASL attempt on postfix is checked by dovecot's auth, which logs it)."""
    ship.drain(dest_id)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    bans = [e for e in events if e["event"]["code"] == "govhost.host.ban"]
    mine = [(e["source"]["ip"], e["host"]["name"]) for e in bans if e["govhost"]["audit"]["summary"]["jail"] == jail]
    assert [m for m in mine if m[0] != also_ok] == [(address, host)], bans


def test_mail_host_jails_ban_failed_sasl_and_imap_logins(booted, soc_jails_lab, make, dc, tmp_path):
    mail, smtp_bad, imap_bad = soc_jails_lab["socm1"], soc_jails_lab["socx2"], soc_jails_lab["socx3"]
    host = make_lab_host(mail.name, mail.ip, ["mail"], capacities={"mailboxes": 100})
    admin = make.actor_of(make.make_user(Role.ADMIN, dc, username="dcadmin"), "cli")
    feed = tmp_path / "feed.jsonl"
    dest = svc.destination_create(admin, data=svc.DestinationIn("agent", "file", str(feed)))
    system = system_actor("worker", "test")
    with db.unit_of_work():  # postfix and dovecot by govhost's own mail host job
        jobs_svc.job_submit(
            system, kind="mail.server", org_id=None, host_ids=[host.id], params={"auth_failure_delay": 0}
        )
    assert_ran(run_pending_jobs(booted), "mail.server")

    hostguard.hosts_protect(admin, host_ids=[host.id], ignoreip=[L.GATEWAY])
    assert_ran(run_pending_jobs(booted), "soc.hosts_protect")
    jails = host_sh("socm1", "fail2ban-client status")
    assert all(j in jails for j in ("sshd", "postfix", "postfix-sasl", "dovecot")), jails
    assert "govhost-wordpress" not in jails  # no web role, no site log
    assert "/var/log/postfix.log" in host_sh("socm1", "fail2ban-client get postfix-sasl logpath")
    assert "/var/log/dovecot.log" in host_sh("socm1", "fail2ban-client get dovecot logpath")
    assert_ran((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")

    # SASL: wrong passwords on submission (587, STARTTLS) until postfix-sasl bans the address
    out = _py("socx2", SASL.format(ip=mail.ip, n=7))
    assert "refused 535" in out, out  # real SASL failures, answered by postfix through dovecot's auth
    _banned("socm1", "postfix-sasl", smtp_bad.ip)
    assert _port("socx2", mail.ip, 587) == "closed" and _port("socx3", mail.ip, 587) == "open"

    # IMAP: wrong passwords on 993 from another address until the dovecot jail bans it
    out = _py("socx3", IMAP.format(ip=mail.ip, n=7))
    assert "refused" in out and "AUTHENTICATIONFAILED" in out, out
    _banned("socm1", "dovecot", imap_bad.ip)
    assert _port("socx3", mail.ip, 993) == "closed"
    assert imap_bad.ip not in host_sh("socm1", "fail2ban-client status postfix-sasl")

    # the panel's read turns both bans into host.ban entries and feed events
    assert_ran((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    _bans(("postfix-sasl", smtp_bad.ip), ("dovecot", imap_bad.ip))
    _feed(dest.id, feed, "postfix-sasl", smtp_bad.ip, "socm1")
    _feed(dest.id, feed, "dovecot", imap_bad.ip, "socm1", also_ok=smtp_bad.ip)


WP_LOGIN = "<?php\n// WordPress-like: a failed login answers 200 with the form again.\necho '<form>wrong</form>';\n"


def test_web_host_wordpress_jail_bans_login_and_xmlrpc_abuse(booted, soc_jails_lab, make, dc, tmp_path):
    web, attacker = soc_jails_lab["socp1"], soc_jails_lab["socx2"]
    host = make_lab_host(web.name, web.ip, ["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})
    admin = make.actor_of(make.make_user(Role.ADMIN, dc, username="dcadmin"), "cli")
    feed = tmp_path / "feed.jsonl"
    dest = svc.destination_create(admin, data=svc.DestinationIn("agent", "file", str(feed)))
    system = system_actor("worker", "test")

    # protected before it holds any site: the web role alone gives it the WordPress jail
    hostguard.hosts_protect(admin, host_ids=[host.id], ignoreip=[L.GATEWAY])
    assert_ran(run_pending_jobs(booted), "soc.hosts_protect")
    assert "govhost-wordpress" in host_sh("socp1", "fail2ban-client status")
    assert "postfix" not in host_sh("socp1", "fail2ban-client status")

    # a ministry's site, made afterwards by the ordinary request and job
    ministry = make.make_org("Ministry of Posts", slug="mpt")
    webmaster = make.actor_of(make.make_user(Role.WEBMASTER, ministry, username="mptweb"))
    op = make.actor_of(make.make_user(Role.OPERATOR, dc, username="dcop"))
    with db.unit_of_work() as s:
        s.add(DomainClaim(org_id=ministry.id, domain="mpt.gov.test", token="t" * 32, method=ClaimMethod.TXT,
                          verified_at=db.utcnow()))  # fmt: skip
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
    req = requests_svc.request_create(
        webmaster, kind="sites.site_create", org_id=ministry.id, payload={"fqdn": FQDN, "plan": "basic", "tls": "none"}
    )
    requests_svc.request_approve(op, req.id)
    for kind, status, text in run_pending_jobs(booted):
        assert status == "successful", f"{kind}: {text}"
    with db.unit_of_work() as s:
        site = s.scalars(select(Site).where(Site.fqdn == FQDN)).one()
    log = f"/srv/www/{FQDN}/logs/access.log"
    page = f"/srv/www/{FQDN}/public/wp-login.php"
    host_sh("socp1", f"cat > {page} <<'EOF'\n{WP_LOGIN}EOF\nchmod 0644 {page}")
    assert log not in host_sh("socp1", "fail2ban-client get govhost-wordpress logpath")

    # the next bans read puts the new site's log under the jail
    assert_ran((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    assert log in host_sh("socp1", "fail2ban-client get govhost-wordpress logpath")
    assert site.status.value == "active"

    curl = f"curl -s -o /dev/null -w '%{{http_code}} ' --max-time 4 -H 'Host: {FQDN}' http://{web.ip}"
    codes = host_sh("socx2", f"for i in 1 2 3; do {curl}/wp-login.php -d 'log=admin&pwd=guess'$i; done").split()
    assert codes == ["200", "200", "200"], codes  # failed logins answer 200, as WordPress does
    xmlrpc = '<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName></methodCall>'
    host_sh("socx2", f"for i in 1 2 3 4; do {curl}/xmlrpc.php -d '{xmlrpc}'; done")
    _banned("socp1", "govhost-wordpress", attacker.ip)
    assert _port("socx2", web.ip, 80) == "closed" and _port("socx3", web.ip, 80) == "open"
    assert_ran((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    _bans(("govhost-wordpress", attacker.ip))
    _feed(dest.id, feed, "govhost-wordpress", attacker.ip, "socp1")
