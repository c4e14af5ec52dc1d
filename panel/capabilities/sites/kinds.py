"""Request kinds of web hosting: create (one or many sites), change plan, aliases, suspend,
unsuspend, delete, and custom certificate upload. Importing this module registers them.

validate() returns the clean payload (names in IDNA form, checked free and owned); on_approve()
writes the desired state and submits one job per host, so N sites on a host are one playbook run.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.certs import (
    check_upload,
    info,
    load_trust,
    other_names,
    parse_chain,
    windows_key_refusal,
)
from panel.capabilities.sites.models import Plan, Site, SiteAlias, SiteStatus, TlsMode
from panel.capabilities.sites.rules import check_windows_site
from panel.errors import Conflict, Invalid
from panel.models.hosts import HostOS
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization, Role
from panel.services import hosts as hosts_svc
from panel.services import requests
from panel.services.actor import Actor
from panel.services.names import MAX_NAME, clean_hostname
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int, rule_error, text

MAX_BULK = 500
MAX_CERT = 64000  # a PEM certificate or chain (a chain of a dozen 4096-bit certificates fits)

# ---- payload schemas: the limits the web form, the API body and the CLI share ---------------------
# The rules below (names.clean_hostname, sites.clean_*) still decide what a value means; a value past
# a schema limit fails with the rule's own key (rule_error), so every surface gets one answer.


def _hostname(description: str = "", **kw) -> fields.String:
    return fields.String(
        validate=text(min=1, max=MAX_NAME),
        metadata=rule_error(
            "name.too_long",
            "A domain name has at most {max} characters.",
            **({"description": description} if description else {}),
        ),
        **kw,
    )


def _aliases() -> fields.List:
    return fields.List(
        _hostname(),
        validate=validate.Length(max=sites.MAX_ALIASES),
        metadata=rule_error("site.aliases_invalid", "Give at most {max} alias names."),
    )


def _site_id() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


class SiteNames(Schema):
    """One site of a bulk create: its name and its aliases."""

    fqdn = _hostname(required=True)
    aliases = _aliases()


class SiteCreatePayload(Schema):
    """One site (fqdn, aliases) or, for data-center operators, many at once (sites)."""

    fqdn = _hostname("the site's name; or give `sites` (operators: many at once)")
    aliases = _aliases()
    sites = fields.List(
        fields.Nested(SiteNames),
        validate=validate.Length(min=1, max=MAX_BULK),
        metadata=rule_error("site.bulk_invalid", "Give from 1 to {max} sites."),
    )
    plan = fields.String(
        required=True,
        validate=text(min=1, max=64),
        metadata=rule_error("site.plan_required", "Choose a hosting plan."),
    )
    php_version = fields.String(
        validate=[validate.Length(max=5), validate.Regexp(r"^([5-9]\.[0-9]{1,2})?$")],
        metadata=rule_error("site.php_invalid", "Choose a PHP version such as 8.2.", description="empty: the host's"),
    )
    tls = fields.String(
        validate=validate.OneOf([TlsMode.ACME.value, TlsMode.NONE.value]),
        metadata=rule_error("site.tls_invalid", "TLS is 'acme' (automatic certificate) or 'none'."),
    )
    host_id = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "operators: place the sites on this host"},
    )
    exceed_capacity = fields.Boolean(
        truthy={True},  # JSON true or false only, as the rule says ("yes" is refused, not read as true)
        falsy={False},
        metadata=rule_error(
            "host.exceed_invalid",
            "exceed_capacity is true or false.",
            wrong_type_too=True,
            description="operators: place on host_id even past its capacity (recorded in the request)",
        ),
    )


class SitePayload(Schema):
    """A change to one existing site (suspend, unsuspend, delete)."""

    site_id = _site_id()


class SitePlanPayload(SitePayload):
    plan = SiteCreatePayload._declared_fields["plan"]


class SiteAliasPayload(SitePayload):
    alias = _hostname(required=True)


class SiteCertPayload(SitePayload):
    """The certificate's public parts; its private key travels as the request's secret."""

    certificate = fields.String(required=True, validate=text(min=1, max=MAX_CERT, multiline=True))
    chain = fields.String(validate=text(max=MAX_CERT, multiline=True))


def _tls(value) -> str:
    value = value or TlsMode.ACME.value
    if value not in (TlsMode.ACME.value, TlsMode.NONE.value):
        raise Invalid("site.tls_invalid", "TLS is 'acme' (automatic certificate) or 'none'.", field="tls")
    return value


def _spec(actor: Actor, s: Session, org: Organization, item: dict, seen: set[str]) -> dict:
    fqdn = clean_hostname(item.get("fqdn"), "fqdn")
    aliases = sites.clean_aliases(item.get("aliases"), fqdn)
    names = [fqdn, *aliases]
    dup = next((n for n in names if n in seen), None)
    if dup:
        raise Conflict("site.name_taken", "{name} is already used by another site.", field="fqdn", name=dup)
    seen.update(names)
    sites.check_names(actor, s, org.id, names)
    return {"fqdn": fqdn, "aliases": aliases}


def _create_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"fqdn", "aliases", "sites", "php_version", "plan", "host_id", "tls", "exceed_capacity"})
    s = db.session()
    host_id, exceed = hosts_svc.host_choice(actor, payload)
    plan = sites.plan_by_name(s, payload.get("plan"))
    items = payload.get("sites") if "sites" in payload else [payload]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK or not all(isinstance(i, dict) for i in items):
        raise Invalid("site.bulk_invalid", "Give from 1 to {max} sites.", field="sites", max=MAX_BULK)
    if "sites" in payload and not actor.has_staff(Role.OPERATOR, Role.ADMIN):
        raise Invalid("site.bulk_forbidden", "Only data-center operators create sites in bulk.", field="sites")
    seen: set[str] = set()
    specs = [_spec(actor, s, org, {k: v for k, v in i.items() if k in ("fqdn", "aliases")}, seen) for i in items]
    php = sites.clean_php(payload.get("php_version"))
    host = sites.site_place(s, count=len(specs), php_version=php, host_id=host_id, exceed=exceed, os=plan.os)
    if plan.os == HostOS.WINDOWS:  # before anything is stored or sent
        for spec in specs:
            check_windows_site(current_settings().sites.iis_root, org.id, spec["fqdn"], spec["aliases"])
    out = {
        "plan": plan.name,
        "php_version": sites.clean_php(php, host if plan.os == HostOS.LINUX else None),
        "tls": _tls(payload.get("tls")),
        "host_id": host_id,
        **({"exceed_capacity": True} if exceed else {}),
    }
    return {**out, "sites": specs} if "sites" in payload else {**out, **specs[0]}


def _create_quota(payload: dict) -> dict[str, int]:
    n = len(payload.get("sites") or [payload])
    plan = db.session().query(Plan).filter(Plan.name == payload["plan"]).one()
    return {"sites": n, "disk_mb": n * plan.disk_mb}


def _create_kept(s: Session, request: Request) -> dict[str, int]:
    """What the request's sites that still live hold (a run may apply some sites and fail others):
    a failed or deleted site holds nothing, any other still counts."""
    live = set(
        s.scalars(
            select(Site.fqdn).where(
                Site.request_id == request.id, Site.status.not_in([SiteStatus.FAILED, SiteStatus.DELETED])
            )
        )
    )
    items = [i for i in request.payload.get("sites") or [request.payload] if i["fqdn"] in live]
    return _create_quota({**request.payload, "sites": items}) if items else {}


def _create_place(s: Session, org: Organization, payload: dict) -> int:
    n = len(payload.get("sites") or [payload])
    return sites.site_place(
        s,
        count=n,
        php_version=payload["php_version"],
        host_id=payload.get("host_id"),
        exceed=payload.get("exceed_capacity", False),
        os=sites.plan_by_name(s, payload["plan"]).os,
    ).id


def _create_approve(actor: Actor, request: Request) -> list:
    rows = _new_sites(actor, request, request.payload)
    return [sites.submit_site_job(actor, "sites.site_create", rows, request_id=request.id)]


def _new_sites(actor: Actor, request: Request, p: dict, app: str = "") -> list[Site]:
    """The approved request's site rows (pending, names published); the caller submits their job."""
    s = db.session()
    plan = sites.plan_by_name(s, p["plan"])
    rows = []
    for spec in p.get("sites") or [p]:
        sites.check_names(actor, s, request.org_id, [spec["fqdn"], *spec["aliases"]], exclude_request_id=request.id)
        site = Site(
            org_id=request.org_id,
            fqdn=spec["fqdn"],
            php_version=p["php_version"],
            plan_id=plan.id,
            host_id=request.target_host_id,
            tls_mode=TlsMode(p["tls"]),
            request_id=request.id,
            quota_request_ids=[request.id],
            aliases=[SiteAlias(name=a) for a in spec["aliases"]],
            app=app,
        )
        s.add(site)
        rows.append(site)
    s.flush()
    for site in rows:
        site.system_user = f"site{site.id}"
        _publish(actor, site)
    return rows


def _publish(actor: Actor, site: Site) -> None:
    """The site's names point at its host (only where the zone is hosted here; else nothing)."""
    records = [{"name": n + ".", "type": "A", "data": sites.host_address(site)} for n in site.names]
    dns.records_publish(actor, org_id=site.org_id, fqdn=site.fqdn, source=f"site:{site.id}", records=records)


def _describe_create(payload: dict) -> tuple[str, dict]:
    names = [x["fqdn"] for x in payload.get("sites", [])] or [payload["fqdn"]]
    more = f" (+{len(names) - 3})" if len(names) > 3 else ""
    return (
        N_("{names} on plan {plan}, PHP {php}"),
        {"names": ", ".join(names[:3]) + more, "plan": payload["plan"], "php": payload["php_version"]},
    )


# ---- changes to one existing site ----------------------------------------------------------------


def _site_of(actor: Actor, payload: dict, statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED)) -> Site:
    require_int(payload, "site_id", minimum=1, maximum=2**63 - 1)
    return sites.live_site(actor, int(payload["site_id"]), statuses=statuses)


def _same_org(site: Site, org: Organization) -> None:
    if site.org_id != org.id:
        raise Invalid("site.org_mismatch", "The site belongs to another organization.", field="site_id")


def _one_site(fields: set[str], extra=None, statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED)):
    def validate(actor: Actor, org: Organization, payload: dict) -> dict:
        reject_unknown(payload, {"site_id", *fields})
        site = _site_of(actor, payload, statuses)
        _same_org(site, org)
        out = {"site_id": site.id, "fqdn": site.fqdn}
        return {**out, **(extra(actor, site, payload) if extra else {})}

    return validate


def _no_app(actor: Actor, site: Site, payload: dict) -> dict:
    """A site running an application (WordPress) is suspended, unsuspended and deleted as that
    application, whose own job also stops or archives what it has beside the vhost (its cron, its
    database): one way, so the two never disagree."""
    if site.app:
        raise Conflict(
            "site.app_managed",
            "{fqdn} runs {app}: suspend, unsuspend or delete it on its {app} page.",
            field="site_id",
            fqdn=site.fqdn,
            app=site.app,
        )
    return {}


def _plan_extra(actor: Actor, site: Site, payload: dict) -> dict:
    plan = sites.plan_by_name(db.session(), payload.get("plan"))
    if plan.id == site.plan_id:
        raise Invalid("site.plan_same", "The site is already on plan {plan}.", field="plan", plan=plan.name)
    return {"plan": plan.name, "disk_delta_mb": max(0, plan.disk_mb - site.plan.disk_mb)}


def _plan_kept(s: Session, request: Request) -> dict[str, int]:
    """A plan change given up after its job failed: the site was put on the new plan at approval
    (and the next converge applies it), so while it lives on that plan it holds the extra disk."""
    site = s.get(Site, request.payload["site_id"])
    plan_id = s.scalar(select(Plan.id).where(Plan.name == request.payload["plan"]))  # even if retired since
    if site is None or site.status == SiteStatus.DELETED or site.plan_id != plan_id:
        return {}
    return {"disk_mb": request.payload["disk_delta_mb"]}


def _alias_add_extra(actor: Actor, site: Site, payload: dict) -> dict:
    alias = clean_hostname(payload.get("alias"), "alias")
    if alias in site.names:
        raise Conflict("site.name_taken", "{name} is already used by another site.", field="alias", name=alias)
    if len(site.aliases) >= sites.MAX_ALIASES:
        raise Invalid("site.aliases_invalid", "Give at most {max} alias names.", field="alias", max=sites.MAX_ALIASES)
    sites.check_names(actor, db.session(), site.org_id, [alias], field="alias")
    return {"alias": alias}


def _alias_remove_extra(actor: Actor, site: Site, payload: dict) -> dict:
    alias = clean_hostname(payload.get("alias"), "alias")
    if alias not in site.alias_names:
        raise Invalid("site.alias_unknown", "{name} is not an alias of this site.", field="alias", name=alias)
    return {"alias": alias}


def _cert_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    if set(secrets) != {"private_key"} or not isinstance(secrets.get("private_key"), str):
        raise Invalid("site.cert_key_required", "Upload the certificate's private key.", field="private_key")
    return {"private_key": secrets["private_key"]}


def _cert_extra(actor: Actor, site: Site, payload: dict) -> dict:
    # The key arrives as a request secret; the public parts are checked again with it on approval.
    _cert_names_owned(site, payload.get("certificate"))
    _cert_for_os(site, payload.get("certificate"))
    return {"certificate": payload.get("certificate"), "chain": payload.get("chain") or ""}


def _cert_names_owned(site: Site, cert_pem) -> None:
    """Every name the certificate carries must be a verified domain of the site's ministry: a
    certificate that also names another ministry's site would let this one impersonate it."""
    leaf = parse_chain(cert_pem)[0]
    others = other_names(leaf)
    if others:
        raise Invalid(
            "site.cert_other_names",
            "The certificate names {names}; only DNS names of your ministry's domains are allowed.",
            field="certificate",
            names=", ".join(others[:5]),
        )
    foreign = []
    for name in info(leaf).names:
        base = name[2:] if name.startswith("*.") else name
        try:
            ok = dns.domain_verified(site.org_id, clean_hostname(base, "certificate"))
        except Invalid:
            ok = False
        if not ok:
            foreign.append(name)
    if foreign:
        raise Invalid(
            "site.cert_foreign_names",
            "The certificate also names {names}, which are not verified domains of your ministry.",
            field="certificate",
            names=", ".join(foreign[:5]),
        )


def _cert_for_os(site: Site, cert_pem) -> None:
    """An IIS site's certificate must have a key Windows can serve (RSA or ECDSA)."""
    if site.plan.os == HostOS.WINDOWS:
        refusal = windows_key_refusal(cert_pem)
        if refusal is not None:
            raise refusal


def _trust_args() -> dict:
    cfg = current_settings().sites
    return {"trusted": load_trust(cfg.cert_trust_store), "accept_self_signed": cfg.accept_self_signed}


def _host_of(s: Session, org: Organization, payload: dict) -> int | None:
    site = s.get(Site, payload["site_id"])
    return site.host_id if site else None


def _change_approve(kind: str, apply):
    def on_approve(actor: Actor, request: Request) -> list:
        s = db.session()
        site = s.get(Site, request.payload["site_id"])
        params = apply(actor, s, site, request) or {}
        return [
            sites.submit_site_job(
                actor, kind, [site], request_id=request.id, params=params.get("params"), secrets=params.get("secrets")
            )
        ]

    return on_approve


def _apply_plan(actor, s, site, request):
    site.plan = sites.plan_by_name(s, request.payload["plan"])  # the object: site.plan is read after
    site.quota_request_ids = [*site.quota_request_ids, request.id]


def _apply_alias_add(actor, s, site, request):
    sites.check_names(actor, s, site.org_id, [request.payload["alias"]], exclude_request_id=request.id, field="alias")
    site.aliases.append(SiteAlias(name=request.payload["alias"]))
    s.flush()
    _publish(actor, site)


def _apply_alias_remove(actor, s, site, request):
    site.aliases = [a for a in site.aliases if a.name != request.payload["alias"]]
    s.flush()
    _publish(actor, site)


def _apply_delete(actor, s, site, request):
    previous = site.status
    site.move_to(SiteStatus.DELETING)
    # Its names stop resolving with the approval, as they started with it; a failed delete job is
    # retried to completion rather than bringing the site back.
    dns.records_withdraw(actor, source=f"site:{site.id}")
    if previous == SiteStatus.FAILED:  # a failed delete job puts it back to failed, not active
        return {"params": {"previous": SiteStatus.FAILED.value}}
    return None


def _apply_cert(actor, s, site, request):
    from_request = requests.request_secrets(request)["private_key"]
    _cert_names_owned(site, request.payload["certificate"])  # claims may have changed since
    _cert_for_os(site, request.payload["certificate"])  # so may the site's plan
    check_upload(request.payload["certificate"], request.payload["chain"], from_request, site.names, **_trust_args())
    return {
        "params": {"certificate": request.payload["certificate"], "chain": request.payload["chain"]},
        "secrets": {"govhost_tls_key": from_request},
    }


def _kind(name, label, schema, validate, apply, job, quota=None, policy=ApprovalMode.ONE, secrets=None, **extra):
    extra |= {"validate_secrets": secrets} if secrets else {}
    return register(
        RequestKind(
            name=name,
            label=label,
            who_may_request=MANAGER_ROLES,
            validate=validate,
            schema=schema,
            quota=quota or (lambda p: {}),
            place=_host_of,
            on_approve=_change_approve(job, apply),
            default_policy=policy,
            describe=lambda p: (
                f"{p['fqdn']}"
                + (f": {p.get('plan') or p.get('alias') or ''}" if p.get("plan") or p.get("alias") else "")
            ),
            **extra,
        )
    )


SITE_CREATE = register(
    RequestKind(
        name="sites.site_create",
        label=N_("New website"),
        who_may_request=MANAGER_ROLES,
        validate=_create_validate,
        schema=SiteCreatePayload,
        quota=_create_quota,
        place=_create_place,
        on_approve=_create_approve,
        on_give_up=sites.site_create_give_up,
        kept=_create_kept,
        on_create=sites.names_hold,
        describe=_describe_create,
        default_policy=ApprovalMode.ONE,
    )
)
_kind(
    "sites.site_change_plan",
    N_("Change a website's plan"),
    SitePlanPayload,
    _one_site({"plan"}, _plan_extra),
    _apply_plan,
    "sites.site_update",
    quota=lambda p: {"disk_mb": p["disk_delta_mb"]},
    kept=_plan_kept,
)
_kind(
    "sites.site_alias_add",
    N_("Add a website alias"),
    SiteAliasPayload,
    _one_site({"alias"}, _alias_add_extra),
    _apply_alias_add,
    "sites.site_update",
    on_create=sites.names_hold,
)
_kind(
    "sites.site_alias_remove",
    N_("Remove a website alias"),
    SiteAliasPayload,
    _one_site({"alias"}, _alias_remove_extra),
    _apply_alias_remove,
    "sites.site_update",
    policy=ApprovalMode.AUTO,
)
_kind(
    "sites.site_suspend",
    N_("Suspend a website"),
    SitePayload,
    _one_site(set(), _no_app),
    lambda *a: None,
    "sites.site_suspend",
    policy=ApprovalMode.AUTO,
)
_kind(
    "sites.site_unsuspend",
    N_("Unsuspend a website"),
    SitePayload,
    _one_site(set(), _no_app),
    lambda *a: None,
    "sites.site_unsuspend",
)
# A failed site can be deleted too: the job removes whatever its create job left on the host.
_kind(
    "sites.site_delete",
    N_("Delete a website"),
    SitePayload,
    _one_site(set(), _no_app, statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED, SiteStatus.FAILED)),
    _apply_delete,
    "sites.site_delete",
)


_kind(
    "sites.site_cert_upload",
    N_("Install a website certificate"),
    SiteCertPayload,
    _one_site({"certificate", "chain"}, _cert_extra),
    _apply_cert,
    "sites.site_cert",
    policy=ApprovalMode.AUTO,
    secrets=_cert_secrets,
)


# ---- provider: a new site for another capability's application (cms: WordPress in one request) ---
# The caller's request kind carries the site's fields beside its own and uses these for the site's
# part of validate, quota, placement, name holds and approval, so both parts are one request, one
# approval and one budget check (panel.services.providers).

APP_SITE_FIELDS = ("fqdn", "aliases", "plan", "php_version", "tls")


def _app_fields(payload: dict) -> dict:
    return {k: payload[k] for k in APP_SITE_FIELDS if k in payload}


def app_new_site_fields() -> dict[str, fields.Field]:
    """`sites.app_new_site_fields`: the payload fields of the site (APP_SITE_FIELDS, `fqdn`
    required), with a one-site `sites.site_create`'s limits and error keys, for the caller's kind
    schema (marshmallow), so its API and forms state the site's limits as POST /sites/ does."""
    declared = SiteCreatePayload._declared_fields
    return {"fqdn": _hostname("the new site's name", required=True)} | {k: declared[k] for k in APP_SITE_FIELDS[1:]}


def app_new_site_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    """`sites.app_new_site_validate`: the site fields of `payload` (APP_SITE_FIELDS; others are the
    caller's) checked as a one-site `sites.site_create` checks them: names free and the ministry's,
    plan, PHP, TLS, a host with room. Returns the clean site fields (plain values) to keep in the
    caller's payload. Errors: those of sites.site_create (name.*, site.*, host.*)."""
    clean = _create_validate(actor, org, _app_fields(payload))
    return {k: v for k, v in clean.items() if k in APP_SITE_FIELDS}


def app_new_site_quota(payload: dict) -> dict[str, int]:
    """`sites.app_new_site_quota`: the budget the site of a clean payload takes (sites, disk_mb)."""
    return _create_quota(_app_fields(payload))


def app_new_site_place(s: Session, org: Organization, payload: dict) -> int:
    """`sites.app_new_site_place`: the web host the site of a clean payload goes on."""
    return _create_place(s, org, {**_app_fields(payload), "host_id": None})


def app_new_site_hold(s: Session, request: Request) -> None:
    """`sites.app_new_site_hold`: hold the site's names while the caller's request is open (its
    on_create); the caller ends the hold with `sites.app_new_site_release` when it leaves the open
    states. Errors: site.name_taken (a request took one since validate)."""
    sites.names_hold(s, request)


def app_new_site_release(s: Session, request_id: int) -> None:
    """`sites.app_new_site_release`: end the name holds of the caller's request."""
    sites.names_release(s, request_id)


def app_new_site_kept(s: Session, request: Request) -> dict[str, int]:
    """`sites.app_new_site_kept`: what the caller's request's site holds while it lives (sites,
    disk_mb), for the caller's RequestKind.kept; {} once it failed or was deleted."""
    return _create_kept(s, request)


def app_new_site(actor: Actor, request: Request, *, app: str) -> dict:
    """`sites.app_new_site`: at the caller's approval (in its transaction), the site of its clean
    payload, serving `app` (one of sites.APPS) from its first run, and its create job, which
    belongs to no request (the caller chains its own jobs from that job's end, as with
    databases.app_database). Returns {"site_id", "fqdn", "user", "host_id", "job_id"}.
    Errors: site.name_taken (taken since the request was filed)."""
    if app not in sites.APPS:
        raise ValueError(f"unknown app {app!r}")
    (site,) = _new_sites(actor, request, _app_fields(request.payload), app=app)
    job = sites.submit_site_job(actor, "sites.site_create", [site])
    return {"site_id": site.id, "fqdn": site.fqdn, "user": site.system_user, "host_id": site.host_id, "job_id": job.id}
