#!/usr/bin/python3
"""govhost (cms): unpack one catalogue zip into a site's plugins or themes folder, as the site's user.

Input from the environment: GOVHOST_ZIP, GOVHOST_SHA256, GOVHOST_SLUG, GOVHOST_DEST (the site's
wp-content/plugins or wp-content/themes). The zip's sha256 is checked first; it is unpacked into a
fresh folder under the site's wp-content/upgrade, must hold only GOVHOST_SLUG/..., then takes the
place of the installed copy by a rename (the previous copy is removed). Prints one JSON line.

GOVHOST_KIND=language: a language pack (GOVHOST_SLUG its locale), whose files are flat (and under
plugins/, themes/): each file takes the place of its namesake in GOVHOST_DEST (wp-content/languages)
by a rename; the site's other translations stay.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile


def fail(message: str) -> None:
    print(json.dumps({"error": message}))
    sys.exit(1)


# As the catalogue checked it (panel/capabilities/cms/catalogue.py LANG_FILE_RE).
LANG_FILE_RE = re.compile(r"^((plugins|themes)/)?[A-Za-z0-9_.@-]{1,120}\.(mo|po|json|l10n\.php)$")


def languages(stage: str, locale: str, dest: str) -> None:
    """Each file of the pack over its namesake in wp-content/languages (a rename each)."""
    if not os.path.isfile(os.path.join(stage, f"{locale}.mo")):
        fail(f"the language pack has no {locale}.mo")
    moved = 0
    for sub in ("", "plugins", "themes"):
        src = os.path.join(stage, sub)
        if not os.path.isdir(src):
            continue
        os.makedirs(os.path.join(dest, sub), mode=0o755, exist_ok=True)
        for name in sorted(os.listdir(src)):
            path = os.path.join(src, name)
            if os.path.isfile(path) and not os.path.islink(path):
                os.chmod(path, 0o644)
                os.replace(path, os.path.join(dest, sub, name))
                moved += 1
    print(json.dumps({"unpacked": locale, "files": moved}))


def main() -> None:
    language = os.environ.get("GOVHOST_KIND") == "language"
    names = ("GOVHOST_ZIP", "GOVHOST_SHA256", "GOVHOST_SLUG", "GOVHOST_DEST")
    zip_path, want, slug, dest = (os.environ[k] for k in names)
    digest = hashlib.sha256()
    with open(zip_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != want:
        fail(f"the zip's sha256 is {digest.hexdigest()}, not the catalogue's {want}")
    stage = tempfile.mkdtemp(prefix=f"govhost-{slug}-", dir=os.path.join(os.path.dirname(dest), "upgrade"))
    try:
        with zipfile.ZipFile(zip_path) as z:
            for name in z.namelist():
                parts = name.split("/")
                if language:
                    if not (LANG_FILE_RE.match(name) or name in ("plugins/", "themes/")):
                        fail(f"the language pack holds {name!r}, not a translation file")
                elif parts[0] != slug or len(parts) < 2 or ".." in parts or name.startswith("/") or "\\" in name:
                    fail(f"the zip holds {name!r}, outside its folder {slug}")
            z.extractall(stage)
        if os.environ.get("GOVHOST_KIND") == "language":
            languages(stage, slug, dest)
            return
        target = os.path.join(dest, slug)
        if os.path.lexists(target):
            os.rename(target, os.path.join(stage, "previous"))
        os.rename(os.path.join(stage, slug), target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(json.dumps({"unpacked": slug}))


main()
