"""`govhost demo ...`: the quick start's complete demo data center (what `./scripts/demo` runs).

`demo config` writes config.yaml (fresh keys) and points DNS, ACME and the resolver at the lab;
`demo up` migrates, creates the admin, starts the demo lab host and Pebble, then sets the data center
up through the same service functions the web, the API and the CLI use: BIND as the primary of the
demo parent zone, the mail server, the DB server, default hosting plans, a demo ministry with a suffix, a zone
and a verified domain, its website www.mpt.gov.test with WordPress on it (requests filed by this
command and approved by the admin, as a ministry's are), and a colocation floor (racks, feeds, a
switch, address pools). Every step
keeps what exists, so running it again is safe (and restarts the daemons of a lab host that was
restarted). Nothing is ever sent beyond this machine and the lab.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import time
from pathlib import Path

import click
import yaml
from cryptography.fernet import Fernet

from panel.capabilities.cms import service as cms_svc
from panel.capabilities.colocation import service as colo_svc
from panel.capabilities.databases import service as db_svc
from panel.capabilities.dns import claims as dns_claims
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.soc import service as soc_svc
from panel.cli.common import cli_actor, command, console, settings_from
from panel.cli.lab import demo as lab_demo
from panel.cli.serve import setup as setup_cmd
from panel.errors import NotFound, PanelError
from panel.services import auth as auth_svc
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services import providers, tenants
from panel.services import requests as requests_svc
from panel.services.setup import DATACENTER_SLUG, DEMO_SLUG
from provisioners.lab import common as lab_net

# The lab block in use (10.77.0.0/24, or GOVHOST_LAB_NET: docs/lab.md) and its bridge's address:
# config.example.yaml names the default block, and a demo on another block must not point its
# network, DNS and ACME settings there.
EXAMPLE_NET, EXAMPLE_PREFIX = "10.77.0.0/24", "10.77.0."
LAB_PREFIX = str(lab_net.SUBNET.network_address).rsplit(".", 1)[0] + "."
PARENT_ZONE = "gov.test"  # .test is reserved (RFC 6761): no real name can be hit by mistake
MINISTRY_DOMAIN = "mpt.gov.test"
WORDPRESS_SITE = f"www.{MINISTRY_DOMAIN}"  # the demo ministry's website, with WordPress on it
NAMESERVER = f"ns1.{PARENT_ZONE}"
# name, disk MB, memory MB, PHP children, upload MB
# The engines the demo host serves tenant databases with, and the port each answers on.
DB_PORTS = {"mariadb": 3306, "postgresql": 5432}
PLANS = (("small", 500, 128, 3, 16), ("standard", 2000, 256, 5, 32), ("large", 10000, 512, 10, 64))


@click.group()
def demo() -> None:
    """The quick start's demo data center (config, lab host, BIND, mail, ACME, plans, ministry)."""


# ---- config.yaml -----------------------------------------------------------------------------------


def _set_key(lines: list[str], section: str, key: str, value) -> None:
    """Set `section.key` in the YAML text (2-space indent, comments kept): replace or insert the line."""
    text = f"  {key}: {json.dumps(value, ensure_ascii=False)}"
    try:
        start = lines.index(f"{section}:")
    except ValueError:
        lines.extend([f"{section}:", text])
        return
    i = start + 1
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "#"))):
        if lines[i].startswith(f"  {key}:"):
            lines[i] = text
            return
        i += 1
    lines.insert(start + 1, text)


@demo.command("config")
@click.option("--host", "host", default=None, help="Demo lab host name (default: keep, else demo1).")
@click.option("--address", default=None, help="Its lab address (default: keep, else .10 of the lab block).")
@click.option("--acme-port", type=click.IntRange(1024, 65000), default=None, help="Pebble's port (default 14000).")
@click.pass_context
def config(ctx: click.Context, host: str | None, address: str | None, acme_port: int | None) -> None:
    """Write config.yaml (fresh keys) if missing; point DNS, ACME and the resolver at the demo lab.

    Only empty or missing keys are filled in, so a value you changed is kept; options given here
    replace the demo host, its address and Pebble's port."""
    path = Path(ctx.obj["config"])
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    if not path.exists():
        text = example.read_text()
        text = text.replace(
            'secret_key: "dev-only-change-me-0123456789abcdef"', f'secret_key: "{secrets.token_urlsafe(48)}"'
        )
        text = text.replace(yaml.safe_load(text)["secret_keys"][0], Fernet.generate_key().decode())
        text = text.replace(EXAMPLE_NET, str(lab_net.SUBNET)).replace(EXAMPLE_PREFIX, LAB_PREFIX)
        path.write_text(text)
        path.chmod(0o600)
        console.print(f"wrote {path} with fresh keys")
    raw = yaml.safe_load(path.read_text()) or {}
    lines = path.read_text().splitlines()

    def get(section: str, key: str):
        return (raw.get(section) or {}).get(key)

    data = raw.get("data_dir") or "var"
    # The lab's bridge address is where managed hosts are reached from (network.source_address):
    # Pebble listens there, and the demo host's default address is .10 of that network.
    gateway = get("network", "source_address") or lab_net.GATEWAY
    network = get("network", "source_network") or str(lab_net.SUBNET)
    default_ip = str(ipaddress.ip_network(network, strict=False).network_address + 10)
    name = host or get("lab", "demo_host") or "demo1"
    ip = address or get("lab", "demo_address") or default_ip
    acme = get("sites", "acme_directory")
    if acme_port or not acme:
        acme = f"https://{gateway}:{acme_port or 14000}/dir"
    wanted = {
        ("lab", "demo_host"): (name, host is not None),
        ("lab", "demo_address"): (ip, address is not None),
        ("dns", "primary_host"): (name, host is not None),
        ("dns", "resolver"): (ip, address is not None),
        ("dns", "nameservers"): ([NAMESERVER], False),
        ("sites", "acme_directory"): (acme, acme_port is not None),
        ("sites", "acme_ca_bundle"): (f"{data}/pebble/tls.crt", False),
        ("sites", "acme_root_ca"): (f"{data}/pebble/roots.pem", False),
        ("sites", "acme_email"): (f"hostmaster@{PARENT_ZONE}", False),
    }
    changed = []
    for (section, key), (value, force) in wanted.items():
        current = get(section, key)
        empty = current in (None, "", []) or (key == "acme_email" and current == "hostmaster@localhost")
        if (force or empty) and current != value:
            _set_key(lines, section, key, value)
            changed.append(f"{section}.{key}")
    if changed:
        path.write_text("\n".join(lines) + "\n")
        console.print(f"{path}: set {', '.join(changed)}")


# ---- the data center -------------------------------------------------------------------------------


class _Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def step(self, text: str) -> None:
        console.print(f"[dim]{time.monotonic() - self.start:6.1f} s[/] {text}", highlight=False)


def _run(actor, job, what: str) -> None:
    job = jobs_svc.job_run_here(actor, job.id)
    if job.status.value != "successful":
        raise click.ClickException(f"{what} failed (job {job.id}): {job.explanation}")


def _zone(actor, org_id: int, name: str):
    try:
        zone = dns_svc.zone_by_name(actor, name)
    except NotFound:
        zone = None
    if zone is None or zone.status.value != "active":
        if zone is None:
            _run(actor, dns_svc.zone_host(actor, org_id=org_id, name=name), f"zone {name}")
        else:
            raise click.ClickException(f"zone {name} is {zone.status.value}: see `govhost jobs list`")
        zone = dns_svc.zone_by_name(actor, name)
    return zone


def _records(actor, zone, wanted: list[tuple[str, str, str]]) -> None:
    have = {(r.name, r.rtype, r.data) for r in dns_svc.record_list(actor, zone_id=zone.id, per_page=200).items}
    for name, rtype, data in wanted:
        fqdn = f"{name}.{zone.name}" if name != "@" else zone.name
        if (fqdn, rtype, data) not in have:
            dns_svc.record_create(actor, zone_id=zone.id, name=name, rtype=rtype, data=data)
    _run(actor, dns_svc.dns_apply(actor, zone.id), f"records of {zone.name}")


def _answers(address: str, *ports: int) -> bool:
    """The lab host's daemons answer (after a restart of the host they do not, until set up again)."""
    for port in ports:
        try:
            socket.create_connection((address, port), timeout=2).close()
        except OSError:
            return False
    return True


def _bind_ready(actor, host) -> bool:
    try:
        dns_svc.dns_plan(actor, dns_svc.zone_by_name(actor, PARENT_ZONE).id)  # AXFR signed with our key
    except PanelError:
        return False
    return True


@demo.command("up")
@click.option("--admin", "admin_username", default="admin", show_default=True)
@click.option("--converge", is_flag=True, help="Run the DNS and mail server set-up even when they answer.")
@click.pass_context
def up(ctx: click.Context, admin_username: str, converge: bool) -> None:
    """Set up (or bring back) the whole demo data center; every step keeps what exists."""
    settings = settings_from(ctx)
    t = _Timeline()
    ctx.invoke(setup_cmd, admin_username=admin_username, demo=True)
    t.step("database, data center, admin and demo ministry")
    ctx.invoke(lab_demo, address=None, probe=True, pebble=True)
    t.step(f"lab host {settings.lab.demo_host} and Pebble (the demo's ACME server)")
    ctx.invoke(datacenter, converge=converge, admin_username=admin_username)
    t.step("data center ready")


def _run_pending(actor, what: str) -> None:
    """Run every pending job here, oldest first, and those they chain (a site's DNS records job
    comes before its create job on the same host; a database job chains WordPress's install)."""
    for _ in range(10):
        pending = sorted(j.id for j in jobs_svc.job_list(actor, status="pending", per_page=100).items)
        if not pending:
            return
        for job_id in pending:
            _run(actor, jobs_svc.job_get(actor, job_id), what)
    raise click.ClickException(f"{what}: jobs kept coming")


def _wordpress(actor, admin_username: str, org_id: int, t: _Timeline) -> None:
    """The demo ministry's website with WordPress on it (its certificate from the demo's Pebble), the
    way a ministry gets one: requests filed by the panel (this command), approved by the admin."""
    if cms_svc.instance_list(actor, org_id=org_id).total:
        t.step(f"WordPress on {WORDPRESS_SITE}: kept")
        return
    approver = auth_svc.actor_by_username(admin_username, surface="cli")
    try:
        site = sites_svc.site_by_name(actor, WORDPRESS_SITE)
    except NotFound:
        req = sites_svc.site_request(
            actor, action="create", org_id=org_id, payload={"fqdn": WORDPRESS_SITE, "plan": "small"}
        )
        requests_svc.request_approve(approver, req.id)
        _run_pending(actor, f"website {WORDPRESS_SITE}")
        site = sites_svc.site_by_name(actor, WORDPRESS_SITE)
    issued = cms_svc.instance_create(
        actor,
        org_id=org_id,
        site_id=site.id,
        title="Ministry of Posts and Telecommunications",
        admin_user="webadmin",
        admin_email=f"webmaster@{MINISTRY_DOMAIN}",
    )
    requests_svc.request_approve(approver, issued.request.id)
    _run_pending(actor, f"WordPress on {WORDPRESS_SITE}")  # its database's job, then the install it chains
    inst = cms_svc.instance_list(actor, org_id=org_id).items[0]
    if inst.status.value != "active":
        raise click.ClickException(f"WordPress on {WORDPRESS_SITE} is {inst.status.value}: {inst.last_error}")
    t.step(f"WordPress {inst.wp_version} on https://{WORDPRESS_SITE}/ (its database on the DB server)")
    console.print(f"WordPress administrator webadmin at https://{WORDPRESS_SITE}/wp-admin/, password (shown once):")
    click.echo(f"  {issued.password}")


def _floor(actor) -> None:
    """The demo's data-center floor (documentation address ranges, RFC 5737 / RFC 3849), if it has none."""
    if any(s.name == "DC1" for s in colo_svc.site_choices(actor)):
        return
    site = colo_svc.site_create(actor, name="DC1", description="Demo data center")
    room = colo_svc.room_create(actor, site_id=site.id, name="Hall A")
    panel = colo_svc.panel_create(actor, site_id=site.id, name="PP1")
    feeds = [
        colo_svc.feed_create(actor, panel_id=panel.id, name=n, phase="three", voltage=400, amperage=32)
        for n in ("A1", "B1")
    ]
    for i in range(1, 5):
        colo_svc.rack_create(
            actor, room_id=room.id, name=f"A{i:02}", height_u=42, feed_a_id=feeds[0].id, feed_b_id=feeds[1].id
        )
    colo_svc.switch_create(actor, room_id=room.id, name="SW-A", ports=48, speed_mbps=1000, medium="copper")
    # cross-connects: A ends on hall A's panel, B ends in the meet-me room where carriers arrive
    colo_svc.patch_panel_create(actor, room_id=room.id, name="PP-A", ports=24, medium="fibre")
    mmr = colo_svc.room_create(actor, site_id=site.id, name="Meet-me room")
    colo_svc.patch_panel_create(actor, room_id=mmr.id, name="PP-MMR", ports=48, medium="fibre")
    colo_svc.prefix_create(actor, site_id=site.id, cidr="192.0.2.0/24", vlan=200, description="colocation")
    colo_svc.prefix_create(actor, site_id=site.id, cidr="2001:db8:c010::/64", vlan=200, description="colocation")


@demo.command("datacenter")
@click.option("--converge", is_flag=True, help="Run the DNS and mail server set-up even when they answer.")
@click.option("--admin", "admin_username", default="admin", show_default=True, help="Who approves the demo's requests.")
@command
def datacenter(converge: bool, admin_username: str = "admin") -> None:
    """BIND, parent zone, mail server, DB server, plans and the demo ministry's domain (the services' way)."""
    settings = settings_from(click.get_current_context())
    actor, t = cli_actor(), _Timeline()
    host = hosts_svc.host_find(actor, settings.lab.demo_host)
    if converge or not _bind_ready(actor, host):
        _run(actor, dns_svc.dns_server_setup(actor, host_id=host.id), "DNS server setup")
        t.step(f"BIND on {host.name} ({host.address}) with govhost's TSIG key")
    else:
        t.step(f"BIND on {host.name} answers with govhost's key: kept")
    dc = next(o for o in tenants.org_list(actor, 1, 200, q=DATACENTER_SLUG).items if o.kind.value == "datacenter")
    parent = _zone(actor, dc.id, PARENT_ZONE)
    # The wildcard sends every name of the demo parent zone to the demo host: a new ministry's
    # sites resolve (for Pebble's validation too) before the ministry has a zone of its own.
    _records(actor, parent, [("ns1", "A", host.address), ("*", "A", host.address)])
    t.step(f"zone {PARENT_ZONE} (ns1 and * -> {host.address})")
    ministry = next(o for o in tenants.org_list(actor, 1, 200, q=DEMO_SLUG).items if o.slug == DEMO_SLUG)
    have = [r.suffix for r in dns_claims.suffix_list(actor, org_id=ministry.id)]
    if MINISTRY_DOMAIN not in have:
        dns_claims.suffix_set(actor, org_id=ministry.id, suffixes=[*have, MINISTRY_DOMAIN])
    _zone(actor, ministry.id, MINISTRY_DOMAIN)
    claim = dns_claims.claim_create(actor, org_id=ministry.id, domain=MINISTRY_DOMAIN)
    t.step(f"{ministry.slug}: suffix, zone and {claim.method.value}-verified domain {MINISTRY_DOMAIN}")
    names = {p.name for p in sites_svc.plan_list(actor, active_only=False)}
    for name, disk, memory, children, upload in PLANS:
        if name not in names:
            sites_svc.plan_create(
                actor, name=name, disk_mb=disk, memory_mb=memory, max_children=children, upload_mb=upload
            )
    t.step("hosting plans " + ", ".join(p[0] for p in PLANS))
    if converge or not _answers(host.address, 25, 587, 993, 80):
        _run(actor, mail_svc.mail_server_setup(actor, host_id=host.id), "mail server setup")
        t.step(f"mail server on {host.name} (postfix, dovecot, opendkim, webmail)")
    else:
        t.step(f"mail server on {host.name} answers (SMTP, submission, IMAPS, webmail): kept")
    if converge or not _answers(host.address, *DB_PORTS.values()):
        _run(actor, db_svc.db_server_setup(actor, host_id=host.id, engines=list(DB_PORTS)), "DB server setup")
        t.step(f"DB server on {host.name} ({', '.join(DB_PORTS)}): ministries' databases go there")
    else:
        t.step(f"DB server on {host.name} answers ({', '.join(DB_PORTS)}): kept")
    _wordpress(actor, admin_username, ministry.id, t)
    feed = settings.path("soc-events.jsonl")
    if not any(h.target == str(feed) for h in soc_svc.destination_health(actor)[1]):
        soc_svc.destination_create(actor, data=soc_svc.DestinationIn("demo-agent", "file", str(feed), start="all"))
    t.step(f"security feed: every audit entry as a JSON line in {feed} (govhost soc ship)")
    _floor(actor)
    t.step(
        "colocation floor: site DC1, hall A and a meet-me room, 4 racks of 42 U on feeds A and B, a 48-port switch,"
        " patch panels, address pools"
    )
    acme = providers.call("sites.acme_server")
    console.print(
        f"demo CA for browsers and curl: http://127.0.0.1:8000/sites/ca.pem (file {acme['root_ca']})",
        highlight=False,
    )
