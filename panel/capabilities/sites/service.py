"""Web hosting: reading sites and plans, names, placement, SFTP keys, custom config, certificates.

The lifecycle (create, change plan, aliases, suspend, delete, certificate upload) runs through
requests: see sites.kinds. What a ministry may do at once on its own live site (SFTP
keys) and what operators do (custom nginx directives, plans, renewals, usage sweeps) lives here.
Every host change is a job; this module only writes desired state and submits them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from panel import db, events
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.sites import CAPACITY, WEB_ROLE, certs
from panel.capabilities.sites.models import (
    LIVE,
    Plan,
    SftpKey,
    Site,
    SiteAlias,
    SiteMove,
    SiteNameHold,
    SiteStatus,
)
from panel.errors import Conflict, Invalid, NotFound, PanelError
from panel.models.hosts import Host, HostOS, HostState, with_role
from panel.models.moves import MoveStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Organization, Role
from panel.services import hosts as hosts_svc
from panel.services import jobs, moves, requests
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, scoped, system_actor
from panel.services.audit import audited
from panel.services.names import clean_hostname, is_under
from panel.services.pagination import Page, Window, paginate, window
from panel.services.workloads import Placed

MAX_ALIASES = 20
MAX_CUSTOM_NGINX = 4000
DEFAULT_PHP = "8.2"
_PHP_RE = re.compile(r"^[5-9]\.[0-9]{1,2}$")
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
OPEN_REQUEST = (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED)


# ---- reading -----------------------------------------------------------------------------------


def site_list(
    actor: Actor,
    *,
    page: int = 1,
    per_page: int = 50,
    org_id: int | None = None,
    status: str | None = None,
    include_deleted: bool = False,
) -> Page:
    stmt = scoped(select(Site), actor, Site)
    if org_id is not None:
        stmt = stmt.where(Site.org_id == org_id)
    if status:
        stmt = stmt.where(
            Site.status == SiteStatus(status) if status in SiteStatus._value2member_map_ else Site.id.is_(None)
        )
    elif not include_deleted:
        stmt = stmt.where(Site.status != SiteStatus.DELETED)
    return paginate(stmt.order_by(Site.fqdn), page=page, per_page=per_page)


def site_window(
    actor: Actor,
    *,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
    org_id: int | None = None,
    status: str | None = None,
) -> Window:
    """Sites by name as plain rows with what a list shows: the plan's name and disk limit, and the
    number of aliases instead of the collections (aliases, keys, certificates: GET /sites/{id})."""
    params: dict = {}
    if not actor.sees_all:
        params["orgs"] = sorted(actor.org_ids)
    if org_id is not None:
        params["org_id"] = org_id
    if status:
        if status not in SiteStatus._value2member_map_:
            return Window([], min(max(1, int(per_page)), 200), None, page=page, total=0 if with_total else None)
        params["status"] = SiteStatus(status)
    shape = ("sites", "orgs" in params, "org_id" in params, "status" in params)
    return window(
        lambda: _site_rows(*shape[1:]),
        [(Site.fqdn, "fqdn"), (Site.id, "id")],
        per_page=per_page,
        cursor=cursor,
        page=page,
        with_total=with_total,
        shape=shape,
        params=params,
    )


def _site_rows(scoped_to_orgs: bool, by_org: bool, by_status: bool):
    """The select of site_window for one shape of filters, its values left as bindparams."""
    alias_count = select(func.count()).where(SiteAlias.site_id == Site.id).correlate(Site).scalar_subquery()
    stmt = select(
        Site.id,
        Site.org_id,
        Site.fqdn,
        Site.php_version,
        Plan.name.label("plan"),
        Site.status,
        Site.tls_mode,
        Site.system_user,
        Site.disk_used_mb,
        Plan.disk_mb.label("disk_limit_mb"),
        Site.disk_measured_at,
        Site.last_error,
        Site.created_at,
        alias_count.label("alias_count"),
    ).join(Plan, Plan.id == Site.plan_id)
    if scoped_to_orgs:  # what panel.services.actor.scoped does, with the actor's orgs as a value
        stmt = stmt.where(Site.org_id.in_(bindparam("orgs", expanding=True)))
    if by_org:
        stmt = stmt.where(Site.org_id == bindparam("org_id"))
    if by_status:
        return stmt.where(Site.status == bindparam("status"))
    return stmt.where(Site.status != SiteStatus.DELETED)


def site_get(actor: Actor, site_id) -> Site:
    with db.unit_of_work():
        return get_scoped(Site, _id(site_id), actor, "site")


def site_by_name(actor: Actor, fqdn: str) -> Site:
    name = clean_hostname(fqdn)
    with db.unit_of_work() as s:
        site = s.scalars(scoped(select(Site).where(Site.fqdn == name, Site.deleted_at.is_(None)), actor, Site)).first()
        if site is None:
            raise NotFound("site.not_found", "Not found.", id=name)
        return site


def live_site(actor: Actor, site_id, *, statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED)) -> Site:
    """A site the actor may see, in one of `statuses`, not being moved to another host."""
    return site_ready(get_scoped(Site, _id(site_id), actor, "site"), statuses=statuses)


def site_ready(site: Site, *, statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED)) -> Site:
    """The site, if it is in one of `statuses` and not being moved to another host."""
    if site.status not in statuses:
        raise Conflict(
            "site.state",
            "The site is {status}; this needs it to be {wanted}.",
            field="site_id",
            status=site.status.value,
            wanted=" or ".join(s.value for s in statuses),
        )
    moving = moves.open_move(db.session(), SiteMove, site.id)
    if moving is not None:
        raise Conflict(
            "site.moving", "The site is being moved to another host (move {id}); try again when it ends.", id=moving.id
        )
    return site


def plan_list(actor: Actor, *, active_only: bool = True) -> list[Plan]:
    with db.unit_of_work() as s:
        stmt = select(Plan).order_by(Plan.disk_mb, Plan.name)
        if active_only:
            stmt = stmt.where(Plan.is_active)
        return list(s.scalars(stmt))


def plan_by_name(s: Session, name, field: str = "plan") -> Plan:
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise Invalid("site.plan_required", "Choose a hosting plan.", field=field)
    plan = s.scalars(select(Plan).where(Plan.name == name.strip(), Plan.is_active)).first()
    if plan is None:
        raise Invalid("site.plan_unknown", "There is no hosting plan {plan}.", field=field, plan=name[:64])
    return plan


_PLAN_LIMITS = {
    "disk_mb": (10, 10**7),
    "memory_mb": (16, 8192),
    "max_children": (1, 200),
    "upload_mb": (1, 2048),
    "max_execution_s": (5, 3600),
}


def plan_admin(actor: Actor) -> bool:
    """May this actor create plans (data-center admins)? For surfaces deciding what to offer."""
    return actor.has_staff(Role.ADMIN) and actor.can_write


MANAGED_RUNTIMES = ("", "v4.0", "v2.0")  # IIS application pools' .NET CLR versions


@audited("site.plan_create", "site_plan")
def plan_create(
    actor: Actor,
    *,
    name: str,
    disk_mb: int,
    memory_mb: int = 128,
    max_children: int = 5,
    upload_mb: int = 32,
    max_execution_s: int = 30,
    os: str = "linux",
    managed_runtime: str = "",
) -> Plan:
    """A hosting plan; `os` decides where its sites are placed (nginx on Linux, IIS on Windows) and
    `managed_runtime` is the IIS pool's .NET CLR ("v4.0", "v2.0", or "" for No Managed Code)."""
    require_staff(actor, Role.ADMIN)
    plan_os = hosts_svc.validate_os(os)
    if managed_runtime not in MANAGED_RUNTIMES or (managed_runtime and plan_os != HostOS.WINDOWS):
        raise Invalid(
            "site.plan_runtime",
            "The managed runtime is v4.0, v2.0 or empty (No Managed Code), and only on Windows plans.",
            field="managed_runtime",
        )
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", name.strip()):
        raise Invalid("site.plan_name", "A plan name has letters, digits, spaces, dots and dashes.", field="name")
    values = {
        "disk_mb": disk_mb,
        "memory_mb": memory_mb,
        "max_children": max_children,
        "upload_mb": upload_mb,
        "max_execution_s": max_execution_s,
    }
    for key, (lo, hi) in _PLAN_LIMITS.items():
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise Invalid(
                "site.plan_limit", "{name} must be a whole number from {lo} to {hi}.", field=key, name=key, lo=lo, hi=hi
            )
    with db.unit_of_work() as s:
        if s.scalars(select(Plan).where(Plan.name == name.strip())).first():
            raise Conflict("site.plan_exists", "A plan named {name} exists.", field="name", name=name.strip())
        plan = Plan(name=name.strip(), os=plan_os, managed_runtime=managed_runtime, **values)
        s.add(plan)
        s.flush()
        return plan


# ---- names ---------------------------------------------------------------------------------------


def split_names(text: str | None) -> list[str]:
    """Names as typed in one box (separated by spaces or commas) -> the list a payload carries."""
    return [v for v in re.split(r"[\s,]+", text or "") if v]


def clean_aliases(values, fqdn: str) -> list[str]:
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = split_names(values)
    if not isinstance(values, (list, tuple)) or len(values) > MAX_ALIASES:
        raise Invalid("site.aliases_invalid", "Give at most {max} alias names.", field="aliases", max=MAX_ALIASES)
    out = []
    for v in values:
        name = clean_hostname(v, "aliases")
        if name != fqdn and name not in out:
            out.append(name)
    return out


def name_taken(
    s: Session, name: str, *, exclude_site_id: int | None = None, exclude_request_id: int | None = None
) -> bool:
    """In use by a live site (as its name or an alias), or held by an open request (SiteNameHold):
    three indexed lookups, however many requests are open."""
    site = s.scalars(select(Site.id).where(Site.fqdn == name, Site.deleted_at.is_(None))).first()
    alias = s.scalars(select(SiteAlias.site_id).where(SiteAlias.name == name)).first()
    if (site and site != exclude_site_id) or (alias and alias != exclude_site_id):
        return True
    held = s.scalar(select(SiteNameHold.request_id).where(SiteNameHold.name == name))
    return held is not None and held != exclude_request_id


def _asked_names(payload: dict) -> set[str]:
    """The names a create or alias-add payload asks for (an alias add also names its site's fqdn,
    which the site holds already)."""
    if payload.get("alias"):
        return {payload["alias"]}
    names = {payload.get("fqdn"), *payload.get("aliases", [])}
    for spec in payload.get("sites", []):
        names |= {spec.get("fqdn"), *spec.get("aliases", [])}
    return {n for n in names if n}


NAME_KINDS = ("sites.site_create", "sites.site_alias_add")


def names_hold(s: Session, request: Request) -> None:
    """The request's names are held while it is open (the kinds' on_create). validate() found them
    free; a request that took one since (a race) makes this flush fail on the unique name."""
    names = sorted(_asked_names(request.payload))
    s.add_all([SiteNameHold(name=n, request_id=request.id) for n in names])
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(
            "site.name_taken", "{name} is already used by another site.", field="fqdn", name=", ".join(names[:3])
        ) from None


@events.request_moved.connect
def _names_release(req: Request, *, old: RequestStatus, new: RequestStatus, **_) -> None:
    """Out of the open states the holds end: the site and alias rows hold the names from here (they
    are written on approval), or the request was rejected or cancelled and the names are free."""
    if req.kind in NAME_KINDS and new not in OPEN_REQUEST and old in OPEN_REQUEST:
        names_release(object_session(req) or db.session(), req.id)


def names_release(s: Session, request_id: int) -> None:
    s.execute(delete(SiteNameHold).where(SiteNameHold.request_id == request_id))


def check_names(
    actor: Actor,
    s: Session,
    org_id: int,
    names: list[str],
    *,
    exclude_site_id: int | None = None,
    exclude_request_id: int | None = None,
    field: str = "fqdn",
) -> None:
    """Each name is free across the panel and lies in a domain the ministry controls."""
    for name in names:
        if name_taken(s, name, exclude_site_id=exclude_site_id, exclude_request_id=exclude_request_id):
            raise Conflict("site.name_taken", "{name} is already used by another site.", field=field, name=name)
        dns_svc.domain_require(actor, org_id=org_id, fqdn=name)


# ---- placement -----------------------------------------------------------------------------------


def host_php_versions(host: Host) -> list[str]:
    versions = (host.facts or {}).get("php_versions") or [DEFAULT_PHP]
    return [str(v) for v in versions]


def clean_php(value, host: Host | None = None) -> str:
    value = DEFAULT_PHP if value in (None, "") else str(value).strip()
    if not _PHP_RE.match(value):
        raise Invalid("site.php_invalid", "Choose a PHP version such as 8.2.", field="php_version")
    if host is not None and value not in host_php_versions(host):
        raise Invalid(
            "site.php_unavailable",
            "PHP {version} is not offered on {host}; it has {versions}.",
            field="php_version",
            version=value,
            host=host.name,
            versions=", ".join(host_php_versions(host)),
        )
    return value


def site_place(
    s: Session,
    *,
    count: int = 1,
    php_version: str = DEFAULT_PHP,
    host_id: int | None = None,
    exceed: bool = False,
    os: HostOS = HostOS.LINUX,
    exclude: int | None = None,
) -> Host:
    """The operator's choice if given (within its capacity unless `exceed`: explicit and audited),
    else the active web host of the plan's OS with the most free room (PHP matters on Linux only),
    never `exclude` (the host a moving site leaves)."""
    if host_id is not None:
        host = s.get(Host, host_id)
        if host is None or WEB_ROLE not in host.roles or host.os != os:
            if os == HostOS.WINDOWS:
                raise Invalid(
                    "site.host_invalid_windows",
                    "Host {id} is not a Windows web host.",
                    field="host_id",
                    id=str(host_id),
                )
            raise Invalid("site.host_invalid", "Host {id} is not a Linux web host.", field="host_id", id=str(host_id))
        used = s.scalar(select(func.count()).where(Site.host_id == host.id, Site.status.in_(LIVE))) or 0
        used += _incoming(s).get(host.id, 0)
        hosts_svc.host_room(host, resource=CAPACITY, used=used, count=count, exceed=exceed)
        return host
    live = select(Site.host_id, func.count().label("n")).where(Site.status.in_(LIVE)).group_by(Site.host_id).subquery()
    rows = s.execute(
        select(Host, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.host_id == Host.id)
        .where(
            with_role(WEB_ROLE),
            Host.state == HostState.ACTIVE,
            Host.os == os,
            Host.key_mismatch_at.is_(None),
            Host.id != (exclude or 0),
        )
    ).all()
    incoming = _incoming(s)
    free = [(hosts_svc.capacity(h, CAPACITY) - n - incoming.get(h.id, 0), h.id, h) for h, n in rows]
    fits = [f for f in free if f[0] >= count and (os == HostOS.WINDOWS or php_version in host_php_versions(f[2]))]
    if not fits and os == HostOS.WINDOWS:
        raise Conflict(
            "site.no_capacity_windows", "No active Windows web host has room for {count} more site(s).", count=count
        )
    if not fits:
        raise Conflict(
            "site.no_capacity",
            "No active web host has room for {count} more site(s) with PHP {php}.",
            count=count,
            php=php_version,
        )
    return max(fits)[2]


def _incoming(s: Session) -> dict[int, int]:
    """Sites being copied to each host by a move (their rows still name the old host): they take
    their room on the new host from the start, so a drain never fills a host past its capacity."""
    rows = s.execute(
        select(SiteMove.to_host_id, func.count())
        .where(SiteMove.status == MoveStatus.COPYING)
        .group_by(SiteMove.to_host_id)
    )
    return dict(rows.all())


def host_address(site: Site) -> str:
    return db.session().get(Host, site.host_id).address


# ---- jobs ----------------------------------------------------------------------------------------


def cleanup_failed(s: Session, failed: list[Site]) -> None:
    """Failed sites of one host whose request was given up: a delete job removes what their create
    job left there; the sites are `deleting` until it ends (then `deleted`, names free). A host that
    is down gets no job: the sites stay failed (deletable later) and say why."""
    try:
        with s.begin_nested():
            for site in failed:
                site.move_to(SiteStatus.DELETING)
            submit_site_job(system_actor("worker", "sites"), "sites.site_delete", failed, params={"previous": "failed"})
    except PanelError as e:
        for site in failed:
            site.last_error = f"Clean-up after the request was cancelled could not start: {e.text()}"[:2000]


def submit_site_job(
    actor: Actor,
    kind: str,
    sites: list[Site],
    *,
    request_id: int | None = None,
    params: dict | None = None,
    secrets: dict | None = None,
):
    """One job for sites on one host; marks them busy with it."""
    hosts = {site.host_id for site in sites}
    if len(hosts) != 1 or None in hosts:
        raise Conflict("site.host_mixed", "A site job runs on exactly one host.")
    org_id = sites[0].org_id
    # Ministries start host work through requests; a change on their own live site (keys) is
    # submitted by the panel itself on their behalf, and audited under their name just before.
    submitter = actor if request_id is not None or actor.is_staff else system_actor(actor.surface, "panel:sites")
    job = jobs.job_submit(
        submitter,
        kind=kind,
        org_id=org_id,
        host_ids=[hosts.pop()],
        request_id=request_id,
        params={"site_ids": [site.id for site in sites], **(params or {})},
        secrets=secrets,
    )
    for site in sites:
        site.busy_job_id = job.id
    return job


# ---- requests (the lifecycle) --------------------------------------------------------------------

ACTIONS = ("create", "change_plan", "alias_add", "alias_remove", "suspend", "unsuspend", "delete", "cert_upload")


def site_request(
    actor: Actor,
    *,
    action: str,
    org_id: int | None = None,
    site_id: int | None = None,
    payload: dict | None = None,
    secrets: dict | None = None,
) -> Request:
    """Ask for a site change: the same call from the web form, the API and the CLI. For an
    existing site the organization is the site's (another ministry's site is not found)."""
    if action not in ACTIONS:
        raise Invalid("site.action_unknown", "Unknown site action: {action}.", field="action", action=str(action)[:32])
    payload = dict(payload or {})
    if action == "cert_upload" and secrets and {"pfx", "pfx_password"} & set(secrets):
        payload, secrets = _pfx_upload(payload, secrets)
    if action != "create":
        with db.unit_of_work():
            site = get_scoped(Site, _id(site_id), actor, "site")
            org_id, payload["site_id"] = site.org_id, site.id
    elif org_id is None:
        if len(actor.org_roles) != 1:
            raise Invalid("site.org_required", "Choose the organization the site belongs to.", field="org_id")
        org_id = next(iter(actor.org_roles))
    return requests.request_create(actor, kind=f"sites.site_{action}", org_id=org_id, payload=payload, secrets=secrets)


def _pfx_upload(payload: dict, secrets: dict) -> tuple[dict, dict]:
    """A certificate uploaded as a PFX file becomes the PEM certificate, chain and key a PEM upload
    gives (then checked the same way); its password is used here to open it and kept nowhere."""
    if (payload.get("certificate") or "").strip() or (secrets.get("private_key") or "").strip():
        raise Invalid(
            "site.cert_two_forms",
            "Upload either a PFX file or the certificate and its private key in PEM form, not both.",
            field="pfx",
        )
    cert, chain, key = certs.from_pfx(secrets.get("pfx"), secrets.get("pfx_password") or "")
    return {**payload, "certificate": cert, "chain": chain}, {"private_key": key}


# ---- SFTP keys -----------------------------------------------------------------------------------


def clean_public_key(value) -> tuple[str, str, str]:
    """(one-line key, SHA256 fingerprint, comment); only well-formed OpenSSH public keys pass."""
    if not isinstance(value, str) or len(value) > 16000 or "\x00" in value:
        raise Invalid(
            "site.sftp_key_invalid", "Paste one OpenSSH public key (ssh-ed25519 AAAA...).", field="public_key"
        )
    parts = value.strip().split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES or "\n" in value.strip():
        raise Invalid(
            "site.sftp_key_invalid", "Paste one OpenSSH public key (ssh-ed25519 AAAA...).", field="public_key"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("site.sftp_key_invalid", "The key is not valid base64.", field="public_key") from None
    if blob[4 : 4 + len(parts[0])] != parts[0].encode():
        raise Invalid(
            "site.sftp_key_invalid", "The key data does not match its type {type}.", field="public_key", type=parts[0]
        )
    comment = re.sub(r"[^A-Za-z0-9@._+-]", "", " ".join(parts[2:]))[:100]
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{parts[0]} {parts[1]}" + (f" {comment}" if comment else ""), fp, comment


@audited("site.sftp_key_add", "site_sftp_key")
def sftp_key_add(actor: Actor, *, site_id: int, public_key: str) -> SftpKey:
    key, fp, comment = clean_public_key(public_key)
    with db.unit_of_work() as s:
        site = live_site(actor, site_id)
        require_org_role(actor, site.org_id)
        if any(k.fingerprint == fp for k in site.sftp_keys):
            raise Conflict("site.sftp_key_exists", "This key is already allowed on the site.", field="public_key")
        row = SftpKey(
            site_id=site.id,
            org_id=site.org_id,
            public_key=key,
            fingerprint=fp,
            comment=comment,
            created_by_name=actor.username,
        )
        site.sftp_keys.append(row)
        s.flush()
        submit_site_job(actor, "sites.site_update", [site])
        return row


@audited("site.sftp_key_remove", "site_sftp_key")
def sftp_key_remove(actor: Actor, *, key_id: int) -> SftpKey:
    with db.unit_of_work() as s:
        row = get_scoped(SftpKey, _id(key_id), actor, "site_sftp_key")
        site = live_site(actor, row.site_id)
        require_org_role(actor, site.org_id)
        site.sftp_keys.remove(row)
        s.flush()
        submit_site_job(actor, "sites.site_update", [site])
        return row


# ---- operators -----------------------------------------------------------------------------------


def clean_custom_nginx(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_CUSTOM_NGINX or "\x00" in value:
        raise Invalid(
            "site.custom_nginx_invalid",
            "Custom directives are text of at most {max} characters.",
            field="custom_nginx",
            max=MAX_CUSTOM_NGINX,
        )
    if "{{" in value or "{%" in value:
        raise Invalid(
            "site.custom_nginx_invalid",
            "Custom directives cannot hold template markers.",
            field="custom_nginx",
            max=MAX_CUSTOM_NGINX,
        )
    return value.replace("\r\n", "\n").strip()


@audited("site.custom_nginx_set", "site")
def site_custom_nginx_set(actor: Actor, *, site_id: int, custom_nginx: str):
    """Operators only: extra directives inside the vhost; nginx -t guards the host (rollback on error)."""
    require_staff(actor)
    text = clean_custom_nginx(custom_nginx)
    with db.unit_of_work():
        site = live_site(actor, site_id)
        site.custom_nginx = text
        return site, submit_site_job(actor, "sites.site_update", [site])


@audited("site.cert_issue", "site")
def site_cert_issue(actor: Actor, *, site_id: int, force: bool = False):
    """Issue (or re-issue) the site's ACME certificate now."""
    require_staff(actor)
    with db.unit_of_work():
        site = live_site(actor, site_id, statuses=(SiteStatus.ACTIVE,))
        return site, submit_site_job(actor, "sites.site_cert", [site], params={"force": bool(force)})


def site_ca_pem() -> str:
    """The root CA the ACME server issues under (settings sites.acme_root_ca), for browsers and curl
    to trust site certificates from a private CA (the demo's Pebble). Public: it is a certificate."""
    path = current_settings().sites.acme_root_ca
    if not path or not Path(path).is_file():
        raise NotFound("site.no_private_ca", "Site certificates here come from a CA browsers already trust.")
    return Path(path).read_text()


def site_ca_offered() -> bool:
    path = current_settings().sites.acme_root_ca
    return bool(path) and Path(path).is_file()


def _id(value) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise NotFound("site.not_found", "Not found.", id=str(value)[:32]) from None
    if not 0 < value < 2**63:
        raise NotFound("site.not_found", "Not found.", id=str(value))
    return value


def site_create_give_up(actor: Actor, req: Request) -> list:
    """A failed site.create request was cancelled (given up): its failed sites get a delete job per
    host that removes what the create job left there (user, PHP-FPM pool, vhost, folders); when it
    ends they are `deleted`, their names free. The budget is freed by the cancel itself."""
    s = db.session()
    failed = list(s.scalars(select(Site).where(Site.request_id == req.id, Site.status == SiteStatus.FAILED)))
    by_host: dict[int, list[Site]] = {}
    for site in failed:
        by_host.setdefault(site.host_id, []).append(site)
    for host_sites in by_host.values():
        for site in host_sites:
            dns_svc.records_withdraw(actor, source=f"site:{site.id}")
        cleanup_failed(s, host_sites)
    return [site.busy_job_id for site in failed if site.status == SiteStatus.DELETING]


__all__ = ["Organization", "is_under"]


# ---- a site as a workload other capabilities link to (databases: who may connect) -----------------

WORKLOAD_LIST_MAX = 500  # a form's choice list; a link names sites by id beyond that


def site_workloads(session: Session, org_id: int, ids=None) -> dict:
    """The ministry's live sites (those ids only, when given) with the web host each runs on."""
    stmt = select(Site.id, Site.fqdn, Site.host_id).where(
        Site.org_id == org_id, Site.status.in_(LIVE), Site.status != SiteStatus.DELETING
    )
    stmt = stmt.where(Site.id.in_(ids)) if ids is not None else stmt.order_by(Site.fqdn).limit(WORKLOAD_LIST_MAX)
    return {i: Placed(i, fqdn, host_id) for i, fqdn, host_id in session.execute(stmt)}


# ---- provider: a site for another capability's application (panel.services.providers) -----------

APPS = ("wordpress",)  # the applications the vhost and pool templates know how to serve


def app_site(actor: Actor, site_id, *, org_id: int, app: str, claim: bool = False) -> dict:
    """`sites.app_site`: an active site of ministry `org_id` the actor may see, for an application
    another capability installs on it (`app`: one of APPS). Refuses a site that serves another
    application. `claim=True` (at the request's approval, in its transaction) records the app on the
    site, so every later job of the site (sites' own too) renders the app's vhost and pool.
    Returns plain values: {"site_id", "fqdn", "user", "host_id", "host_address", "tls", "plan",
    "php_version"} (plan: its name; a copy of the site, such as a WordPress staging site, asks for
    the same). Errors: site.not_found (404, also another ministry's), site.state, site.app_taken."""
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}")
    site = live_site(actor, site_id, statuses=(SiteStatus.ACTIVE,))
    if site.org_id != org_id:
        raise NotFound("site.not_found", "Not found.", field="site_id", id=str(site.id))
    if site.app not in ("", app) or (claim and site.app == app):
        raise Conflict("site.app_taken", "{fqdn} already serves an application.", field="site_id", fqdn=site.fqdn)
    if claim:
        site.app = app
    host = db.session().get(Host, site.host_id)
    cert = site.certificate
    return {
        "site_id": site.id,
        "fqdn": site.fqdn,
        "user": site.system_user,
        "host_id": site.host_id,
        "host_address": host.address if host else "",
        "tls": cert.source.value if cert is not None else "none",
        "plan": site.plan.name,
        "php_version": site.php_version,
    }


def app_release(site_id: int, app: str) -> None:
    """`sites.app_release`: the application left the site (its install failed or it was removed);
    the site serves plain files again from its next job on."""
    site = db.session().get(Site, site_id)
    if site is not None and site.app == app:
        site.app = ""


def app_state(session: Session, site_id: int, *, app: str, suspended: bool) -> None:
    """`sites.app_state`: the application's own job suspended (or unsuspended) the site it runs on,
    rendering the site's vhost and pool that way (cms: WordPress's cron too); the site's status
    follows, so every later job of the site (sites' own: certificates, aliases) renders it the same.
    Nothing happens to a site that no longer serves `app` or is not live."""
    site = session.get(Site, site_id)
    if site is None or site.app != app or site.status not in (SiteStatus.ACTIVE, SiteStatus.SUSPENDED):
        return
    site.move_to(SiteStatus.SUSPENDED if suspended else SiteStatus.ACTIVE)


def plan_names(actor: Actor) -> list[str]:
    """`sites.plan_names`: the active hosting plans' names, smallest first (another capability's form
    that asks for a new site: cms)."""
    return [p.name for p in plan_list(actor)]


def acme_server() -> dict[str, str]:
    """Provider `sites.acme_server`: where the sites' certificates come from, as plain values:
    {"directory": the ACME directory URL, "" when certificates are not automatic; "ca_bundle": the
    file that verifies that server's own TLS, or ""; "root_ca": the root its certificates chain to,
    which browsers of a private data center must trust, or ""}. The lab's `govhost lab demo
    --pebble` starts its ACME server there and the demo names the root, neither reading this
    capability's settings itself."""
    s = current_settings().sites
    return {"directory": s.acme_directory, "ca_bundle": s.acme_ca_bundle, "root_ca": s.acme_root_ca}
