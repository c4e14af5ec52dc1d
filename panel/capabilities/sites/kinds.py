"""Request kinds of web hosting: create (one or many sites), change plan, aliases, suspend,
unsuspend, delete, and custom certificate upload. Importing this module registers them.

validate() returns the clean payload (names in IDNA form, checked free and owned); on_approve()
writes the desired state and submits one job per host, so N sites on a host are one playbook run.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.certs import check_upload, info, load_trust, other_names, parse_chain
from panel.capabilities.sites.models import Plan, Site, SiteAlias, SiteStatus, TlsMode
from panel.errors import Conflict, Invalid
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import Organization, Role
from panel.services import requests
from panel.services.actor import Actor
from panel.services.names import clean_hostname
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int

WHO = frozenset({Role.WEBMASTER, Role.ORG_ADMIN, Role.OPERATOR, Role.ADMIN})
MAX_BULK = 500


def _host_override(actor: Actor, payload: dict) -> int | None:
    if payload.get("host_id") in (None, ""):
        return None
    if not actor.has_staff(Role.OPERATOR, Role.ADMIN):
        raise Invalid("site.host_override_forbidden", "Only data-center operators choose the host.", field="host_id")
    return require_int(payload, "host_id", minimum=1, maximum=2**63 - 1)


def _exceed(payload: dict, host_id: int | None) -> bool:
    """An operator may place sites on a full host only by saying so (recorded in the request's
    audited payload)."""
    value = payload.get("exceed_capacity", False)
    if not isinstance(value, bool):
        raise Invalid("site.exceed_invalid", "exceed_capacity is true or false.", field="exceed_capacity")
    if value and host_id is None:
        raise Invalid(
            "site.exceed_without_host", "exceed_capacity applies only with a chosen host.", field="exceed_capacity"
        )
    return value


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
    host_id = _host_override(actor, payload)
    exceed = _exceed(payload, host_id)
    plan = sites.plan_by_name(s, payload.get("plan"))
    items = payload.get("sites") if "sites" in payload else [payload]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK or not all(isinstance(i, dict) for i in items):
        raise Invalid("site.bulk_invalid", "Give from 1 to {max} sites.", field="sites", max=MAX_BULK)
    if "sites" in payload and not actor.has_staff(Role.OPERATOR, Role.ADMIN):
        raise Invalid("site.bulk_forbidden", "Only data-center operators create sites in bulk.", field="sites")
    seen: set[str] = set()
    specs = [_spec(actor, s, org, {k: v for k, v in i.items() if k in ("fqdn", "aliases")}, seen) for i in items]
    host = sites.site_place(
        s, count=len(specs), php_version=sites.clean_php(payload.get("php_version")), host_id=host_id, exceed=exceed
    )
    out = {
        "plan": plan.name,
        "php_version": sites.clean_php(payload.get("php_version"), host),
        "tls": _tls(payload.get("tls")),
        "host_id": host_id,
        **({"exceed_capacity": True} if exceed else {}),
    }
    return {**out, "sites": specs} if "sites" in payload else {**out, **specs[0]}


def _create_quota(payload: dict) -> dict[str, int]:
    n = len(payload.get("sites") or [payload])
    plan = db.session().query(Plan).filter(Plan.name == payload["plan"]).one()
    return {"sites": n, "disk_mb": n * plan.disk_mb}


def _create_place(s: Session, org: Organization, payload: dict) -> int:
    n = len(payload.get("sites") or [payload])
    return sites.site_place(
        s,
        count=n,
        php_version=payload["php_version"],
        host_id=payload.get("host_id"),
        exceed=payload.get("exceed_capacity", False),
    ).id


def _create_approve(actor: Actor, request: Request) -> list:
    s = db.session()
    p = request.payload
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
        )
        s.add(site)
        rows.append(site)
    s.flush()
    for site in rows:
        site.system_user = f"site{site.id}"
        _publish(actor, site)
    return [sites.submit_site_job(actor, "sites.site_create", rows, request_id=request.id)]


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


def _plan_extra(actor: Actor, site: Site, payload: dict) -> dict:
    plan = sites.plan_by_name(db.session(), payload.get("plan"))
    if plan.id == site.plan_id:
        raise Invalid("site.plan_same", "The site is already on plan {plan}.", field="plan", plan=plan.name)
    return {"plan": plan.name, "disk_delta_mb": max(0, plan.disk_mb - site.plan.disk_mb)}


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
    site.plan_id = sites.plan_by_name(s, request.payload["plan"]).id
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
    check_upload(request.payload["certificate"], request.payload["chain"], from_request, site.names, **_trust_args())
    return {
        "params": {"certificate": request.payload["certificate"], "chain": request.payload["chain"]},
        "secrets": {"govhost_tls_key": from_request},
    }


def _kind(name, label, validate, apply, job, quota=None, policy=ApprovalMode.ONE, secrets=None):
    extra = {"validate_secrets": secrets} if secrets else {}
    return register(
        RequestKind(
            name=name,
            label=label,
            who_may_request=WHO,
            validate=validate,
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
        who_may_request=WHO,
        validate=_create_validate,
        quota=_create_quota,
        place=_create_place,
        on_approve=_create_approve,
        describe=_describe_create,
        default_policy=ApprovalMode.ONE,
    )
)
_kind(
    "sites.site_change_plan",
    N_("Change a website's plan"),
    _one_site({"plan"}, _plan_extra),
    _apply_plan,
    "sites.site_update",
    quota=lambda p: {"disk_mb": p["disk_delta_mb"]},
)
_kind(
    "sites.site_alias_add",
    N_("Add a website alias"),
    _one_site({"alias"}, _alias_add_extra),
    _apply_alias_add,
    "sites.site_update",
)
_kind(
    "sites.site_alias_remove",
    N_("Remove a website alias"),
    _one_site({"alias"}, _alias_remove_extra),
    _apply_alias_remove,
    "sites.site_update",
    policy=ApprovalMode.AUTO,
)
_kind(
    "sites.site_suspend",
    N_("Suspend a website"),
    _one_site(set()),
    lambda *a: None,
    "sites.site_suspend",
    policy=ApprovalMode.AUTO,
)
_kind("sites.site_unsuspend", N_("Unsuspend a website"), _one_site(set()), lambda *a: None, "sites.site_unsuspend")
# A failed site can be deleted too: the job removes whatever its create job left on the host.
_kind(
    "sites.site_delete",
    N_("Delete a website"),
    _one_site(set(), statuses=(SiteStatus.ACTIVE, SiteStatus.SUSPENDED, SiteStatus.FAILED)),
    _apply_delete,
    "sites.site_delete",
)


_kind(
    "sites.site_cert_upload",
    N_("Install a website certificate"),
    _one_site({"certificate", "chain"}, _cert_extra),
    _apply_cert,
    "sites.site_cert",
    policy=ApprovalMode.AUTO,
    secrets=_cert_secrets,
)
