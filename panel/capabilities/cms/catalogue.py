"""The ministry-wide catalogue of WordPress plugins, themes and language packs (issue 16).

Data-center staff upload a zip; govhost checks it (a real zip within the size limits, one top
folder named like a WordPress slug, no path that leaves it, no link, a plugin's or theme's header
with its name and version), stores it in-country under the panel's data dir named by its sha256,
and records it `pending`. Another member of staff approves it (four eyes: the uploader never
approves their own upload) and only then may a ministry install it (cms.plugins). Nothing is ever
fetched from wordpress.org. Versions of one slug are separate items; the mass update (cms.updates)
moves instances from one to another. A language pack (kind `language`, slug its locale, e.g. `km`)
is installed with an instance asked for in that language (cms.kinds, cms.jobs).
"""

from __future__ import annotations

import datetime as dt
import enum
import gettext
import hashlib
import io
import os
import re
import stat
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from marshmallow import Schema, fields, validate
from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from panel import db
from panel.boot import current as current_settings
from panel.db import Base, utcnow
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.state import StateMachine
from panel.models.tenants import Role
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited
from panel.services.pagination import MAX_ID, Page, paginate
from panel.services.tenants import valid_id

MAX_ZIP_BYTES = 20 * 1024 * 1024  # one upload; WordPress.org's own plugin limit is 10 MB
MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # what the zip may unpack to (no zip bombs)
MAX_ENTRIES = 5000
MAX_RATIO = 200  # compressed -> unpacked, per entry
HEADER_BYTES = 8192  # WordPress reads a plugin's or theme's header from its first 8 KiB
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$")
KINDS = ("plugin", "theme", "language")
# A WordPress locale (`km`, `pt_BR`, `de_DE_formal`): a language pack's slug and its main file's name.
LOCALE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?(_[a-z0-9]{2,12})?$")
# What a language pack as translate.wordpress.org builds it holds, flat (core's files) or under
# plugins/ and themes/ (their translations): compiled catalogues, sources, JavaScript's JSON, and the
# PHP arrays of WordPress 6.5+.
LANG_FILE_RE = re.compile(r"^((plugins|themes)/)?[A-Za-z0-9_.@-]{1,120}\.(mo|po|json|l10n\.php)$")
STORE = ("cms", "catalogue")  # under the data dir


class ItemStatus(enum.StrEnum):
    PENDING = "pending"  # uploaded, waiting for a second person
    APPROVED = "approved"  # ministries may install it
    REJECTED = "rejected"  # refused by the second person (final)
    WITHDRAWN = "withdrawn"  # no new installs; installed copies stay


S = ItemStatus
TRANSITIONS = {
    S.PENDING: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.WITHDRAWN}),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset({S.APPROVED}),
}


class CatalogueItem(StateMachine, Base):
    """One version of one plugin or theme: the zip's checksum, its header and who decided."""

    TRANSITIONS = TRANSITIONS
    STATE_KIND = "cms_catalogue_item"
    __tablename__ = "cms_catalogue_items"
    __table_args__ = (
        UniqueConstraint("kind", "slug", "version", name="uq_cms_catalogue_version"),
        Index("ix_cms_catalogue_items_slug", "slug", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # plugin | theme
    slug: Mapped[str] = mapped_column(String(64))  # the zip's one top folder
    name: Mapped[str] = mapped_column(String(200))  # "Plugin Name:" / "Theme Name:"
    version: Mapped[str] = mapped_column(String(40))
    main_file: Mapped[str] = mapped_column(String(200))  # "slug/slug.php" (plugin) or "slug/style.css"
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    status: Mapped[ItemStatus] = mapped_column(Enum(ItemStatus, native_enum=False, length=10), default=S.PENDING)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_by_name: Mapped[str] = mapped_column(String(64), default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[dt.datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")  # what the uploader said; a rejection's reason
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.slug} {self.version}"


class UploadSchema(Schema):
    """An upload's fields as the API states them (the zip itself is the multipart part `file`)."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf(KINDS),
        metadata={"description": "plugin, theme, or language (a WordPress language pack, e.g. km)"},
    )
    note = fields.String(validate=validate.Length(max=2000))
    file = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "description": f"The zip, at most {MAX_ZIP_BYTES} bytes (unpacked at most {MAX_UNPACKED_BYTES}).",
            "maxLength": MAX_ZIP_BYTES,
        },
    )


# ---- the zip's checks (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    kind: str
    slug: str
    name: str
    version: str
    main_file: str
    sha256: str
    size: int


def _zip_error(message: str, **params) -> Invalid:
    return Invalid("cms.zip_invalid", message, field="file", **params)


def _header(text: str, field: str) -> str:
    """A WordPress file header's value ("Plugin Name: X" in a comment), as WordPress reads it."""
    m = re.search(rf"^[ \t/*#@]*{re.escape(field)}:(.*)$", text, re.MULTILINE | re.IGNORECASE)
    return re.sub(r"\s*(?:\*/|\?>).*$", "", m.group(1)).strip() if m else ""


def _entries(z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = z.infolist()
    if not infos:
        raise _zip_error("The zip is empty.")
    if len(infos) > MAX_ENTRIES:
        raise _zip_error("The zip holds more than {max} files.", max=MAX_ENTRIES)
    total = 0
    for info in infos:
        name = info.filename
        parts = name.rstrip("/").split("/")
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or "\x00" in name
            or any(p in ("", ".", "..") for p in parts)
            or re.match(r"^[A-Za-z]:", name)
            or any(ord(c) < 32 for c in name)
        ):
            raise _zip_error("The zip holds a path that leaves its folder: {path}.", path=name[:200])
        if info.flag_bits & 0x1:
            raise _zip_error("The zip holds an encrypted file: {path}.", path=name[:200])
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0: a zip made without Unix modes
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _zip_error("The zip holds a link or a special file: {path}.", path=name[:200])
        total += info.file_size
        if total > MAX_UNPACKED_BYTES or info.file_size > MAX_RATIO * max(info.compress_size, 1024):
            raise _zip_error("The zip unpacks to more than {max} bytes.", max=MAX_UNPACKED_BYTES)
    return infos


def check_zip(data: bytes, kind: str) -> Package:
    """The zip's identity, or Invalid (field `file`) saying what is wrong with it."""
    if kind not in KINDS:
        raise Invalid("cms.catalogue_kind_invalid", "Choose plugin, theme or language.", field="kind")
    if not isinstance(data, bytes | bytearray) or not data:
        raise _zip_error("Choose a zip file.")
    if len(data) > MAX_ZIP_BYTES:
        raise Invalid("cms.zip_too_large", "The zip is larger than {max} bytes.", field="file", max=MAX_ZIP_BYTES)
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _zip_error("This is not a zip file.") from None
    with z:
        infos = _entries(z)
        if kind == "language":
            return _language_pack(z, infos, data)
        tops = {i.filename.split("/", 1)[0] for i in infos}
        if len(tops) != 1 or not all("/" in i.filename for i in infos):
            raise _zip_error("The zip must hold exactly one folder (the plugin's or theme's), and nothing beside it.")
        slug = tops.pop()
        if not SLUG_RE.match(slug):
            raise _zip_error(
                "The folder's name is not a WordPress slug (a-z, 0-9, '-' and '_'): {slug}.", slug=slug[:64]
            )
        if kind == "plugin":
            candidates = sorted(
                (i for i in infos if re.fullmatch(rf"{re.escape(slug)}/[^/]+\.php", i.filename)),
                key=lambda i: (i.filename != f"{slug}/{slug}.php", i.filename),
            )
            wanted = "Plugin Name"
        else:
            candidates = [i for i in infos if i.filename == f"{slug}/style.css"]
            wanted = "Theme Name"
        for info in candidates:
            try:
                text = z.open(info).read(HEADER_BYTES).decode("utf-8", "replace")
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
                raise _zip_error("The zip is damaged: {path}.", path=info.filename[:200]) from None
            name = _header(text, wanted)
            if name:
                main = info.filename
                break
        else:
            raise _zip_error(
                "No {header} header found: not a WordPress {kind}.",
                header=f"{wanted}:",
                kind=kind,
            )
        try:
            for member in infos:  # every member's CRC, so a damaged zip never reaches a host
                with z.open(member) as f:
                    while f.read(1 << 20):
                        pass
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
            raise _zip_error("The zip is damaged.") from None
    version = _header(text, "Version")
    if not VERSION_RE.match(version):
        raise _zip_error(
            "The {kind}'s Version header is missing or not a version: {version}.", kind=kind, version=version[:40]
        )
    if len(name) > 200 or any(ord(c) < 32 for c in name):
        raise _zip_error("The {kind}'s name is longer than 200 characters.", kind=kind)
    return Package(kind, slug, name, version, main, hashlib.sha256(data).hexdigest(), len(data))


def _language_pack(z: zipfile.ZipFile, infos: list[zipfile.ZipInfo], data: bytes) -> Package:
    """A WordPress language pack as translate.wordpress.org builds it: flat files (`km.mo`,
    `admin-km.mo`, `km.po`, `km-<md5>.json`, ...) and the plugins/ and themes/ folders of their
    translations. Its locale is its one `<locale>.mo`; its version is that file's PO-Revision-Date
    (WordPress itself compares translations by it)."""
    for info in infos:
        if info.is_dir():
            if info.filename not in ("plugins/", "themes/"):
                raise _zip_error(
                    "A language pack holds files only (and plugins/, themes/): {path}.", path=info.filename[:200]
                )
        elif not LANG_FILE_RE.match(info.filename):
            raise _zip_error(
                "A language pack holds .mo, .po, .json and .l10n.php files only: {path}.", path=info.filename[:200]
            )
    mains = [i for i in infos if i.filename.endswith(".mo") and LOCALE_RE.match(i.filename[:-3])]
    if len(mains) != 1:
        raise _zip_error("A language pack holds exactly one <locale>.mo (such as km.mo) at its top.")
    main = mains[0]
    locale = main.filename[:-3]
    head = z.read(main)[:28]
    if len(head) == 28 and head[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde"):
        # WordPress's reader (pomo/mo.php) wants the hash table's offset right after the translations'
        # index, as GNU msgfmt and translate.wordpress.org write it; some tools write 0 there, and
        # WordPress then silently stays in English.
        _, _, total, _, values, _, hashes = struct.unpack("<7I" if head[0] == 0xDE else ">7I", head)
        if hashes != values + 8 * total:
            raise _zip_error(
                "{path} is a .mo file WordPress cannot read (made by a tool WordPress does not follow).",
                path=main.filename,
            )
    try:
        for member in infos:  # every member's CRC, so a damaged zip never reaches a host
            with z.open(member) as f:
                while f.read(1 << 20):
                    pass
        headers = gettext.GNUTranslations(io.BytesIO(z.read(main))).info()
    except Exception:  # gettext raises whatever a damaged file makes it: all mean "damaged"
        raise _zip_error("The zip is damaged or {path} is not a compiled translation.", path=main.filename) from None
    said = headers.get("language", "").replace("-", "_")
    if said and said != locale:
        raise _zip_error(
            "{path} says its language is {language}, not {locale}.",
            path=main.filename,
            language=said[:20],
            locale=locale,
        )
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})", headers.get("po-revision-date", ""))
    if not m:
        raise _zip_error("{path} has no PO-Revision-Date header: its version is unknown.", path=main.filename)
    version = "-".join(m.groups())  # 2024-01-15-09-30: compared part by part as versions are
    project = headers.get("project-id-version", "")[:120]
    name = f"{locale}: {project}" if project and all(ord(c) >= 32 for c in project) else f"{locale} language pack"
    return Package("language", locale, name, version, main.filename, hashlib.sha256(data).hexdigest(), len(data))


def version_key(version: str) -> tuple:
    """Versions in order ("1.10" after "1.9"); parts that are not numbers sort before numbers."""
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in re.split(r"[.+_-]", version))


# ---- storage (in-country, under the data dir) ----------------------------------------------------


def store_dir() -> Path:
    return current_settings().path(*STORE)


def zip_path(item: CatalogueItem) -> Path:
    """Where the item's zip is kept; named by its sha256, so the same bytes are kept once."""
    return store_dir() / f"{item.sha256}.zip"


def _store(data: bytes, sha256: str) -> Path:
    d = store_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = d / f"{sha256}.zip"
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        return path
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def verify_stored(item: CatalogueItem) -> Path:
    """The item's zip, checked against its sha256 before it goes to a host."""
    path = zip_path(item)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        raise Conflict(
            "cms.catalogue_file_missing", "The catalogue's copy of {item} is missing.", item=item.label
        ) from None
    if digest != item.sha256:
        raise Conflict("cms.catalogue_file_changed", "The catalogue's copy of {item} was changed.", item=item.label)
    return path


# ---- use cases -----------------------------------------------------------------------------------

UPLOADERS = (Role.OPERATOR, Role.ADMIN)


def _staff(actor: Actor) -> None:
    require_write(actor)
    require_staff(actor, *UPLOADERS)


@audited("cms.catalogue_upload", "cms_catalogue_item", exclude=("data",))
def catalogue_upload(actor: Actor, *, kind: str, data: bytes, filename: str = "", note: str = "") -> CatalogueItem:
    """A new catalogue item from a zip, pending a second person's approval."""
    _staff(actor)
    if not isinstance(note, str) or len(note) > 2000:
        raise Invalid("cms.note_invalid", "The note is text of at most 2000 characters.", field="note")
    pkg = check_zip(data, kind)
    with db.unit_of_work() as s:
        taken = s.scalars(
            select(CatalogueItem).where(
                CatalogueItem.kind == pkg.kind, CatalogueItem.slug == pkg.slug, CatalogueItem.version == pkg.version
            )
        ).first()
        if taken is not None:
            raise Conflict(
                "cms.catalogue_version_exists",
                "{slug} {version} is in the catalogue already (item {id}).",
                field="file",
                slug=pkg.slug,
                version=pkg.version,
                id=taken.id,
            )
        _store(bytes(data), pkg.sha256)
        item = CatalogueItem(
            kind=pkg.kind,
            slug=pkg.slug,
            name=pkg.name,
            version=pkg.version,
            main_file=pkg.main_file,
            sha256=pkg.sha256,
            size=pkg.size,
            uploaded_by_id=actor.user_id,
            uploaded_by_name=actor.username,
            note=note.strip(),
        )
        s.add(item)
        s.flush()
        return item


def _decide(actor: Actor, item_id, target: ItemStatus, note: str = "") -> CatalogueItem:
    _staff(actor)
    if actor.user_id is None:
        raise Forbidden(
            "cms.catalogue_approver_unknown", "A decision needs a named person (on the CLI: --as USERNAME)."
        )
    s = db.session()
    item = s.get(CatalogueItem, valid_id(item_id, "cms_catalogue_item"), with_for_update=True)
    if item is None:
        raise NotFound("cms.catalogue_not_found", "Not found.", field="item_id")
    if item.uploaded_by_id == actor.user_id:
        raise Forbidden("cms.catalogue_self_approval", "Another person must decide on what you uploaded.")
    item.move_to(target)
    item.decided_by_id, item.decided_by_name, item.decided_at = actor.user_id, actor.username, utcnow()
    if note:
        item.note = note
    return item


@audited("cms.catalogue_approve", "cms_catalogue_item")
def catalogue_approve(actor: Actor, item_id: int) -> CatalogueItem:
    """The second pair of eyes: ministries may install the item from now on."""
    with db.unit_of_work():
        item = _decide(actor, item_id, S.APPROVED)
        verify_stored(item)
        return item


@audited("cms.catalogue_reject", "cms_catalogue_item")
def catalogue_reject(actor: Actor, item_id: int, *, reason: str) -> CatalogueItem:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise Invalid("cms.reason_required", "Say why (at most 2000 characters).", field="reason")
    with db.unit_of_work():
        return _decide(actor, item_id, S.REJECTED, reason.strip())


def catalogue_list(
    actor: Actor, *, page: int = 1, per_page: int = 50, status: str | None = None, slug: str | None = None
) -> Page:
    """Staff see every item; ministries see the approved ones (what they may install)."""
    stmt = select(CatalogueItem)
    if not actor.is_staff:
        stmt = stmt.where(CatalogueItem.status == S.APPROVED)
    elif status:
        try:
            stmt = stmt.where(CatalogueItem.status == ItemStatus(status))
        except ValueError:
            raise Invalid("cms.catalogue_status_invalid", "Unknown status.", field="status") from None
    if slug:
        stmt = stmt.where(CatalogueItem.slug == str(slug)[:64])
    with db.unit_of_work():
        return paginate(stmt.order_by(CatalogueItem.slug, CatalogueItem.id), page=page, per_page=per_page)


def catalogue_get(actor: Actor, item_id) -> CatalogueItem:
    with db.unit_of_work() as s:
        item = s.get(CatalogueItem, valid_id(item_id, "cms_catalogue_item"))
        if item is None or (not actor.is_staff and item.status != S.APPROVED):
            raise NotFound("cms.catalogue_not_found", "Not found.", field="item_id")
        return item


def language_pack(session, locale: str) -> CatalogueItem | None:
    """The newest approved language pack of a locale (what an instance in that language gets)."""
    packs = session.scalars(
        select(CatalogueItem).where(
            CatalogueItem.kind == "language", CatalogueItem.slug == locale, CatalogueItem.status == S.APPROVED
        )
    ).all()
    return max(packs, key=lambda i: (version_key(i.version), i.id), default=None)


def approved_item(session, item_id) -> CatalogueItem:
    """A plugin or theme a ministry may install now, or the refusal (for the install and update
    requests; a language pack comes only with an instance in its language)."""
    if isinstance(item_id, bool) or not isinstance(item_id, int) or not 1 <= item_id <= MAX_ID:
        raise Invalid("cms.catalogue_not_found", "Choose an item of the catalogue.", field="item_id")
    item = session.get(CatalogueItem, item_id)
    if item is None or item.status != S.APPROVED:
        raise Invalid(
            "cms.not_in_catalogue",
            "Only approved items of the data center's catalogue can be installed.",
            field="item_id",
        )
    if item.kind == "language":
        raise Invalid(
            "cms.language_pack_alone",
            "A language pack comes with a WordPress site asked for in its language; it is not installed on its own.",
            field="item_id",
        )
    return item
