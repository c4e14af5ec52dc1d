"""Pure rules for sites on Windows hosts: names and paths that Windows itself would misread.

A site's name becomes an IIS website name, binding host names and a folder
(`<iis_root>\\org<id>\\<fqdn>`). DNS names already exclude most hostile characters, but these rules
check every value on their own (the job build calls them again just before anything is sent), so
a name that reaches Windows is one it cannot take for a device, a parent folder, a stream or a
path it cannot create. Nothing here touches the database or Flask.
"""

from __future__ import annotations

import re

from panel.errors import Invalid

# Device names Windows resolves in every folder, with or without an extension ("con.gov.kh" opens
# the console on older Windows versions): refused as any path component's stem.
RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{dev}{n}" for dev in ("com", "lpt") for n in (*"0123456789", "¹", "²", "³")}
)
# Characters no Windows file name may hold, plus the path separators and the NTFS stream colon.
FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
# CreateDirectory's limit: MAX_PATH (260) less 12 for an 8.3 name; the folders govhost creates
# (docroot, logs) must fit it so tools without long-path support can still reach them.
MAX_DIR = 248
DIRS = ("wwwroot", "logs")


def name_refusal(name: str, field: str = "fqdn") -> Invalid | None:
    """Why `name` cannot be a Windows file name component (an error to raise), or None when it can."""

    def refuse(key: str, message: str, **params) -> Invalid:
        return Invalid(key, message, field=field, name=name[:80], **params)

    if not name or name in (".", "..") or ".." in name:
        return refuse("site.windows_parent", "{name} cannot be used on a Windows host: it names a parent folder (..).")
    bad = FORBIDDEN.search(name)
    if bad:
        return refuse(
            "site.windows_char",
            "{name} cannot be used on a Windows host: it contains the character {char}.",
            char=repr(bad.group()),
        )
    if name[-1] in ". ":
        return refuse(
            "site.windows_trailing", "{name} cannot be used on a Windows host: it ends with a dot or a space."
        )
    stem = name.split(".", 1)[0].rstrip(" ").lower()
    if stem in RESERVED:
        return refuse(
            "site.windows_device",
            "{name} cannot be used on a Windows host: {device} is a device name on Windows.",
            device=stem.upper(),
        )
    return None


def name_problem(name: str) -> str:
    """The refusal's text, or "" when Windows takes the name."""
    refusal = name_refusal(name)
    return refusal.text() if refusal else ""


def site_dirs(root: str, org_id: int, fqdn: str) -> dict[str, str]:
    """The site's folder and the ones under it: {"path": ..., "wwwroot": ..., "logs": ...}."""
    path = f"{root.rstrip(chr(92))}\\org{int(org_id)}\\{fqdn}"
    return {"path": path, **{d: f"{path}\\{d}" for d in DIRS}}


def check_windows_site(root: str, org_id: int, fqdn: str, aliases=(), field: str = "fqdn") -> dict[str, str]:
    """The site's folders, or Invalid when a name or path is hostile on Windows."""
    for name, where in ((fqdn, field), *((a, "aliases") for a in aliases)):
        refusal = name_refusal(name, where)
        if refusal:
            raise refusal
    dirs = site_dirs(root, org_id, fqdn)
    longest = max(len(dirs[d]) for d in DIRS)
    if longest > MAX_DIR:
        raise Invalid(
            "site.windows_path_long",
            "{name} makes a folder path of {length} characters on the Windows host; at most {max} fit.",
            field=field,
            name=fqdn[:80],
            length=longest,
            max=MAX_DIR,
        )
    return dirs
