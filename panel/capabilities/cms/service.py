"""WordPress instances' use cases: what the surfaces call (each the same function).

A new instance is a request (cms.kinds); its administrator's password is generated here and handed
back ONCE in `Issued` for the surface to show; it travels sealed on the request and then the install
job, and is never stored, logged or audited. Reads are scoped: another ministry's instance is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from panel import db, security
from panel.capabilities.cms import rules
from panel.capabilities.cms.models import AppPassword, Instance, InstanceStatus
from panel.errors import Invalid
from panel.models.requests import Request
from panel.services import providers, requests, workloads
from panel.services.actor import Actor, get_scoped, scoped
from panel.services.pagination import Page, paginate
from panel.services.tenants import valid_id
from panel.services.workloads import Placed


@dataclass(frozen=True)
class Issued:
    """A filed request and the administrator's one-time password to show once."""

    request: Request
    password: str


def instance_list(actor: Actor, *, page: int = 1, per_page: int = 50, org_id=None, status=None) -> Page:
    """The instances the actor may see by site name, a page at a time (one count, one page query)."""
    stmt = scoped(select(Instance), actor, Instance)
    if status != InstanceStatus.DELETED.value:  # deleted ones stay for history, listed when asked for
        stmt = stmt.where(Instance.status != InstanceStatus.DELETED)
    if org_id is not None:
        stmt = stmt.where(Instance.org_id == valid_id(org_id, "organization"))
    if status is not None:
        if status not in {s.value for s in InstanceStatus}:
            raise Invalid("cms.status_invalid", "Unknown status {status}.", field="status", status=str(status)[:20])
        stmt = stmt.where(Instance.status == InstanceStatus(status))
    with db.unit_of_work():
        return paginate(stmt.order_by(Instance.fqdn, Instance.id), page=page, per_page=per_page)


def instance_get(actor: Actor, instance_id) -> Instance:
    with db.unit_of_work():
        return get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")


def instance_create(
    actor: Actor,
    *,
    org_id,
    site_id=None,
    new_site: dict | None = None,
    title: str,
    admin_user: str,
    admin_email: str,
    language: str = "en",
) -> Issued:
    """Ask for WordPress on a site: an existing one (`site_id`) or, in the same one request, a new one
    (`new_site`: {"fqdn", "plan", and optionally "aliases", "php_version", "tls"}, as for a site).
    The administrator's password is generated and returned once."""
    if (site_id is None) == (new_site is None):
        raise Invalid("cms.site_required", "Choose a website, or ask for a new one.", field="site_id")
    if new_site is not None and not isinstance(new_site, dict):
        raise Invalid("cms.new_site_invalid", "The new site is an object with its name and plan.", field="new_site")
    password = security.new_password(rules.ADMIN_PASSWORD_LENGTH)
    wp = {"title": title, "admin_user": admin_user, "admin_email": admin_email, "language": language}
    if new_site is None:
        kind, payload = "cms.instance_create", {"site_id": site_id, **wp}
    else:
        unknown = sorted(set(new_site) - set(providers.call("sites.app_new_site_fields")))
        if unknown:
            name = str(unknown[0])[:64]
            raise Invalid("request.field_unknown", "Unknown field: {name}.", field=name, name=name)
        kind, payload = "cms.site_instance_create", {**new_site, **wp}
    req = requests.request_create(
        actor, kind=kind, org_id=org_id, payload=payload, secrets={"admin_password": password}
    )
    return Issued(req, password)


ACTIONS = ("suspend", "unsuspend", "delete")


def instance_request(actor: Actor, *, action: str, instance_id) -> Request:
    """Ask to suspend, unsuspend or delete (archive) an instance: the same call from the web page,
    the API and the CLI. The organization is the instance's (another ministry's is not found)."""
    if action not in ACTIONS:
        raise Invalid("cms.action_unknown", "Unknown action: {action}.", field="action", action=str(action)[:32])
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        org_id, iid = inst.org_id, inst.id
    return requests.request_create(actor, kind=f"cms.instance_{action}", org_id=org_id, payload={"instance_id": iid})


# ---- staging (requests in cms.staging) --------------------------------------------------------------


def staging_create(actor: Actor, *, instance_id, fqdn) -> Issued:
    """Ask for a staging copy of a live instance on a new name of the ministry (a new site beside
    it: files and database copied, not indexed, behind the login); one approval. The organization
    is the instance's. The copy gets its own administrator (`<live admin>-staging`); its password is
    generated here and handed back once, as an instance's is (the live site's users cannot log in
    to the copy)."""
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        org_id, iid = inst.org_id, inst.id
    password = security.new_password(rules.ADMIN_PASSWORD_LENGTH)
    req = requests.request_create(
        actor,
        kind="cms.staging_create",
        org_id=org_id,
        payload={"instance_id": iid, "fqdn": fqdn},
        secrets={"admin_password": password},
    )
    return Issued(req, password)


def staging_of(actor: Actor, instance_id: int) -> Instance | None:
    """The live staging copy of an instance the actor may see, if it has one."""
    stmt = scoped(select(Instance), actor, Instance).where(
        Instance.staging_of_id == instance_id, Instance.status != InstanceStatus.DELETED
    )
    with db.unit_of_work() as s:
        return s.scalars(stmt.order_by(Instance.id.desc())).first()


def staging_push(actor: Actor, *, instance_id) -> Request:
    """Ask to push a staging copy to its live site (one approval; the live site's snapshot is taken
    first and restored when it does not answer well after)."""
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        org_id, iid = inst.org_id, inst.id
    return requests.request_create(actor, kind="cms.staging_push", org_id=org_id, payload={"instance_id": iid})


def hardening_repair(actor: Actor, *, instance_id) -> Request:
    """Ask to put the instance's hardening back (the config's defines, owner and mode, govhost's
    plugin, the vhost's rules), then check it again; approved at once by default. The
    organization is the instance's."""
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        org_id, iid = inst.org_id, inst.id
    return requests.request_create(actor, kind="cms.hardening_repair", org_id=org_id, payload={"instance_id": iid})


# ---- app passwords (the Mobile App Platform; requests in cms.apps) ---------------------------------


def app_password_issue(actor: Actor, *, instance_id, name: str, role: str = "author") -> Issued:
    """Ask for an application password of the instance for a named app; the password is made here
    and handed back ONCE (the surface shows it); it works once the request is approved and its job
    has set it on the site. The organization is the instance's."""
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        org_id, iid = inst.org_id, inst.id
    password = security.new_password(rules.APP_PASSWORD_LENGTH)
    req = requests.request_create(
        actor,
        kind="cms.app_password_issue",
        org_id=org_id,
        payload={"instance_id": iid, "name": name, "role": role},
        secrets={"app_password": password},
    )
    return Issued(req, password)


def app_password_list(actor: Actor, instance_id, *, page: int = 1, per_page: int = 50) -> Page:
    """The instance's app passwords, newest first (who they are for; never the password)."""
    with db.unit_of_work():
        inst = get_scoped(Instance, valid_id(instance_id, "cms_instance"), actor, "cms_instance")
        stmt = select(AppPassword).where(AppPassword.instance_id == inst.id).order_by(AppPassword.id.desc())
        return paginate(stmt, page=page, per_page=per_page)


def app_password_revoke(actor: Actor, app_password_id) -> Request:
    """Ask to revoke an app password (approved at once by default): the app then gets 401."""
    with db.unit_of_work():
        row = get_scoped(AppPassword, valid_id(app_password_id, "cms_app_password"), actor, "cms_app_password")
        org_id, rid = row.org_id, row.id
    return requests.request_create(
        actor, kind="cms.app_password_revoke", org_id=org_id, payload={"app_password_id": rid}
    )


def plan_choices(actor: Actor) -> list[str]:
    """The hosting plans a new site may take (a form's choices; the request's rules decide again)."""
    return providers.call("sites.plan_names", actor)


def site_choices(actor: Actor, org_id: int) -> list[Placed]:
    """The ministry's live sites that have no WordPress instance (a form's choices; at most the
    workloads' list limit). The request's own rules decide again: active, no other application."""
    with db.unit_of_work() as s:
        if not actor.sees_all and org_id not in actor.org_ids:
            return []
        sites = workloads.workloads(s, "site", org_id)
        taken = set(s.scalars(select(Instance.site_id).where(Instance.org_id == org_id, Instance.deleted_at.is_(None))))
        return [p for p in sites.values() if p.id not in taken]
