"""Website rows of bulk provisioning files (sites.csv, or `sites:` in the YAML/JSON file).

A row is one site: fqdn, aliases (space or comma separated), plan, php_version, tls. Classified in a
few queries for the whole file: a site of the ministry with the same settings is a no-op; a name
used by another site (of any ministry) or asked for by an open request is a conflict. Create rows
run as sites.site_create requests of at most BATCH sites each (one placement, one job, one
playbook run per batch), approved by the bulk plan's one approval.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.models import Plan, Site, SiteAlias, SiteNameHold, SiteStatus, TlsMode
from panel.errors import Invalid
from panel.models.tenants import Organization
from panel.services.actor import Actor
from panel.services.bulk import Batch, Column, Deletion, RowKind, RowState, Verdict
from panel.services.names import clean_hostname
from panel.services.request_kinds import N_

BATCH = 250  # sites per request: one host, one job, one playbook run


def _aliases(text: str) -> list[str]:
    names = [clean_hostname(v, "aliases") for v in text.replace(",", " ").split()]
    if len(names) > sites.MAX_ALIASES:
        raise Invalid("site.aliases_invalid", "Give at most {max} alias names.", field="aliases", max=sites.MAX_ALIASES)
    return list(dict.fromkeys(names))


def _tls(text: str) -> str:
    value = text.strip().lower() or TlsMode.ACME.value
    if value not in (TlsMode.ACME.value, TlsMode.NONE.value):
        raise Invalid("site.tls_invalid", "TLS is 'acme' (automatic certificate) or 'none'.", field="tls")
    return value


def _plan_name(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 64:
        raise Invalid("site.plan_required", "Choose a hosting plan.", field="plan")
    return value


COLUMNS = (
    Column("fqdn", lambda t: clean_hostname(t, "fqdn"), required=True, help="the site's name, e.g. www.moh.gov.kh"),
    Column("aliases", _aliases, help="other names of the site, separated by spaces"),
    Column("plan", _plan_name, required=True, help="a hosting plan's name"),
    Column("php_version", lambda t: sites.clean_php(t), help="PHP version, e.g. 8.2 (default)"),
    Column("tls", _tls, help="acme (default) or none"),
)


def _key(row: dict) -> str:
    return row["fqdn"]


def _held_names(s: Session, names: list[str]) -> set[str]:
    """Those of `names` an open request holds (one indexed lookup per 500 names)."""
    out: set[str] = set()
    for chunk in _chunks(names):
        out.update(s.scalars(select(SiteNameHold.name).where(SiteNameHold.name.in_(chunk))))
    return out


def _chunks(values: list, n: int = 500):
    for i in range(0, len(values), n):
        yield values[i : i + n]


def _classify(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    s = db.session()
    plans = {p.name: p for p in s.scalars(select(Plan).where(Plan.is_active))}
    fqdns = [r["fqdn"] for r in rows]
    all_names = list({n for r in rows for n in (r["fqdn"], *r.get("aliases", []))})
    existing: dict[str, Site] = {}
    for chunk in _chunks(fqdns):
        for site in s.scalars(select(Site).where(Site.fqdn.in_(chunk), Site.deleted_at.is_(None))):
            existing[site.fqdn] = site
    alias_owner: dict[str, int] = {}
    for chunk in _chunks(all_names):
        alias_owner.update(s.execute(select(SiteAlias.name, SiteAlias.site_id).where(SiteAlias.name.in_(chunk))).all())
    asked = _held_names(s, all_names)
    verified = dns_svc.domains_verifier(org.id)
    out = []
    for r in rows:
        site = existing.get(r["fqdn"])
        names = [r["fqdn"], *r.get("aliases", [])]
        if r["plan"] not in plans:
            out.append(Verdict("invalid", key="site.plan_unknown", message=f"There is no hosting plan {r['plan']}."))
        elif site is not None and site.org_id == org.id:
            out.append(_compare(site, r, plans))
        elif site is not None or any(n in alias_owner or n in asked for n in names):
            taken = next(n for n in names if (n == r["fqdn"] and site) or n in alias_owner or n in asked)
            out.append(Verdict("conflict", key="site.name_taken", message=f"{taken} is already used by another site."))
        elif not all(verified(n) for n in names):
            bad = next(n for n in names if not verified(n))
            out.append(
                Verdict(
                    "conflict",
                    key="dns.domain_unverified",
                    message=f"{bad} is not a verified domain of your ministry: claim and verify it first.",
                )
            )
        else:
            out.append(Verdict("create"))
    return out


def _compare(site: Site, r: dict, plans: dict) -> Verdict:
    if site.status not in (SiteStatus.ACTIVE, SiteStatus.SUSPENDED, SiteStatus.REQUESTED, SiteStatus.PROVISIONING):
        return Verdict(
            "conflict", site.id, "site.not_live", f"{site.fqdn} exists in state {site.status.value}: see the site."
        )
    diffs = []
    if site.plan_id != plans[r["plan"]].id:
        diffs.append(f"plan {site.plan.name} -> {r['plan']}")
    if site.php_version != r.get("php_version", sites.DEFAULT_PHP):
        diffs.append(f"PHP {site.php_version} -> {r.get('php_version')}")
    if site.tls_mode.value != r.get("tls", "acme"):
        diffs.append(f"tls {site.tls_mode.value} -> {r.get('tls')}")
    if sorted(site.alias_names) != sorted(r.get("aliases", [])):
        diffs.append("aliases differ")
    if len(diffs) == 1 and diffs[0].startswith("plan ") and site.status in (SiteStatus.ACTIVE, SiteStatus.SUSPENDED):
        return Verdict("update", site.id, message=diffs[0])  # a plan change is its own request kind
    if diffs:
        return Verdict(
            "conflict",
            site.id,
            "site.differs",
            f"{site.fqdn} exists with other settings ({'; '.join(diffs)}): change it with its own request.",
        )
    return Verdict("noop", site.id)


def _quota(rows: list[dict]) -> dict[str, int]:
    disk = dict(db.session().execute(select(Plan.name, Plan.disk_mb)).all())
    return {"sites": len(rows), "disk_mb": sum(disk.get(r["plan"], 0) for r in rows)}


def _payload(row: dict) -> dict:
    return {k: v for k, v in row.items() if v not in ("", None, [])}


def _groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["plan"], r.get("php_version") or sites.DEFAULT_PHP, r.get("tls") or "acme")].append(r)
    return groups


def _apply(actor: Actor, org: Organization, rows: list[dict], secrets: dict, start) -> list[Batch]:
    out = []
    for (plan, php, tls), group in _groups(rows).items():
        for i in range(0, len(group), BATCH):
            chunk = group[i : i + BATCH]
            payload = {
                "plan": plan,
                "php_version": php,
                "tls": tls,
                "sites": [{"fqdn": r["fqdn"], "aliases": r.get("aliases", [])} for r in chunk],
            }
            req = start("sites.site_create", payload)
            out.append(Batch(tuple(r["fqdn"] for r in chunk), req))
    return out


def _update(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    """Plan changes, one sites.site_change_plan request each (its job updates the pool and limits)."""
    return [
        Batch((r["fqdn"],), start("sites.site_change_plan", {"site_id": r["_object_id"], "plan": r["plan"]}))
        for r in rows
    ]


def _update_quota(rows: list[dict]) -> dict[str, int]:
    s = db.session()
    disk = dict(s.execute(select(Plan.name, Plan.disk_mb)).all())
    now = dict(
        s.execute(
            select(Site.id, Plan.disk_mb)
            .join(Plan, Plan.id == Site.plan_id)
            .where(Site.id.in_([r["_object_id"] for r in rows]))
        ).all()
    )
    return {"disk_mb": sum(max(0, disk.get(r["plan"], 0) - now.get(r["_object_id"], 0)) for r in rows)}


def _state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    out = {}
    for chunk in _chunks([r["fqdn"] for r in rows]):
        for site in s.scalars(
            select(Site).where(Site.org_id == org_id, Site.fqdn.in_(chunk), Site.deleted_at.is_(None))
        ):
            if site.status == SiteStatus.ACTIVE and site.busy_job_id is None:
                out[site.fqdn] = RowState("done", site.id)
            elif site.status == SiteStatus.FAILED:
                out[site.fqdn] = RowState("failed", site.id, "site.create_failed", site.last_error or "failed")
            else:
                out[site.fqdn] = RowState("running", site.id)
    return out


def _placement(s: Session, org: Organization, rows: list[dict]) -> list[str]:
    lines = []
    for (plan, php, _tls), group in _groups(rows).items():
        for i in range(0, len(group), BATCH):
            n = len(group[i : i + BATCH])
            host = sites.site_place(s, count=n, php_version=php)
            lines.append(f"{n} sites (plan {plan}, PHP {php}) on {host.name}")
    return lines


DELETABLE = (SiteStatus.ACTIVE, SiteStatus.SUSPENDED, SiteStatus.FAILED)  # as sites.site_delete takes them


def _live_sites(s: Session, fqdns: list[str]) -> dict[str, Site]:
    out: dict[str, Site] = {}
    for chunk in _chunks(fqdns):
        for site in s.scalars(
            select(Site).where(Site.fqdn.in_(chunk), Site.deleted_at.is_(None), Site.status != SiteStatus.DELETED)
        ):
            out[site.fqdn] = site
    return out


def _delete_find(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    """A row saying delete: the ministry's site of that name is deleted; none (gone already) is a no-op."""
    found = _live_sites(db.session(), [r["fqdn"] for r in rows])
    out = []
    for r in rows:
        site = found.get(r["fqdn"])
        if site is None:
            out.append(Verdict("noop"))
        elif site.org_id != org.id:
            out.append(
                Verdict("conflict", key="site.not_yours", message=f"{r['fqdn']} is not a site of your ministry.")
            )
        elif site.status not in DELETABLE or site.busy_job_id is not None:
            out.append(
                Verdict(
                    "conflict",
                    site.id,
                    "site.busy",
                    f"{site.fqdn} is {site.status.value} with work under way: delete it once that is done.",
                )
            )
        elif site.app:  # as the site.delete request refuses it (sites.kinds._no_app)
            out.append(
                Verdict(
                    "conflict",
                    site.id,
                    "site.app_managed",
                    f"{site.fqdn} runs {site.app}: delete it on its {site.app} page.",
                )
            )
        else:
            out.append(Verdict("delete", site.id))
    return out


def _delete_start(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    return [Batch((r["fqdn"],), start("sites.site_delete", {"site_id": r["_object_id"]})) for r in rows]


def _delete_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    found = _live_sites(s, [r["fqdn"] for r in rows])
    return {
        r["fqdn"]: RowState("running", found[r["fqdn"]].id)
        if r["fqdn"] in found and found[r["fqdn"]].org_id == org_id
        else RowState("done")
        for r in rows
    }


def _domain(values: dict) -> str:
    """What a site's nested rows take as their domain: its name without a leading www."""
    fqdn = values.get("fqdn", "").strip().lower()
    return fqdn.removeprefix("www.")


ROWS = (
    RowKind(
        name="sites",
        label=N_("Websites"),
        request_kind="sites.site_create",
        columns=COLUMNS,
        key=_key,
        classify=_classify,
        quota=_quota,
        apply=_apply,
        state=_state,
        payload=_payload,
        placement=_placement,
        order=10,
        update=_update,
        update_quota=_update_quota,
        domain=_domain,
        deletion=Deletion(("fqdn",), _delete_find, _delete_start, _delete_state),
    ),
)
