#!/usr/bin/python3
"""govhost (cms): unpack one catalogue zip into a site's plugins or themes folder, as the site's user.

Input from the environment: GOVHOST_ZIP, GOVHOST_SHA256, GOVHOST_SLUG, GOVHOST_DEST (the site's
wp-content/plugins or wp-content/themes). The zip's sha256 is checked first; it is unpacked into a
fresh folder under the site's wp-content/upgrade, must hold only GOVHOST_SLUG/..., then takes the
place of the installed copy by a rename (the previous copy is removed). Prints one JSON line.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile


def fail(message: str) -> None:
    print(json.dumps({"error": message}))
    sys.exit(1)


def main() -> None:
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
                if parts[0] != slug or len(parts) < 2 or ".." in parts or name.startswith("/") or "\\" in name:
                    fail(f"the zip holds {name!r}, outside its folder {slug}")
            z.extractall(stage)
        target = os.path.join(dest, slug)
        if os.path.lexists(target):
            os.rename(target, os.path.join(stage, "previous"))
        os.rename(os.path.join(stage, slug), target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(json.dumps({"unpacked": slug}))


main()
