"""`python -m panel.i18n extract|update|compile|check`: the km and en message catalogs.

`check` (run by CI) fails when a string in the code or templates is missing from a catalog, when a
km string is untranslated or fuzzy, or when a compiled .mo file is older than its .po.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
TRANSLATIONS = ROOT / "translations"
LOCALES = ("km", "en")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def extract():
    from babel.messages.catalog import Catalog

    with open(REPO / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="govhost", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(REPO), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str):
    p = po_path(locale)
    if not p.exists():
        from babel.messages.catalog import Catalog

        return Catalog(locale=locale, project="govhost")
    with p.open("rb") as f:
        return read_po(f, locale=locale)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        cat = load(locale)
        cat.update(template, no_fuzzy_matching=True)
        if locale == "en":  # English is the source language: msgstr = msgid
            for m in cat:
                if m.id and not m.string:
                    m.string = m.id
        p = po_path(locale)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as f:
            write_po(f, cat, width=120, omit_header=False, ignore_obsolete=True)
    compile_all()


def compile_all() -> None:
    for locale in LOCALES:
        cat = load(locale)
        with (po_path(locale).with_suffix(".mo")).open("wb") as f:
            write_mo(f, cat, use_fuzzy=False)


def check() -> int:
    template = extract()
    problems = []
    for locale in LOCALES:
        cat = load(locale)
        for m in template:
            if not m.id:
                continue
            have = cat.get(m.id, context=m.context)
            if have is None:
                problems.append(f"{locale}: missing {m.id!r} ({m.locations[0][0]}:{m.locations[0][1]})")
            elif not have.string or (isinstance(have.string, tuple) and not all(have.string)):
                problems.append(f"{locale}: untranslated {m.id!r}")
            elif have.fuzzy:
                problems.append(f"{locale}: fuzzy {m.id!r}")
        mo = po_path(locale).with_suffix(".mo")
        buf = io.BytesIO()
        write_mo(buf, cat, use_fuzzy=False)
        if not mo.exists() or mo.read_bytes() != buf.getvalue():
            problems.append(f"{locale}: {mo.relative_to(REPO)} is not compiled from its .po (run update)")
    for p in problems[:200]:
        print(p)
    print(f"{len(template)} strings, {len(problems)} problems")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "update":
        update()
        return 0
    if cmd == "compile":
        compile_all()
        return 0
    if cmd == "check":
        return check()
    if cmd == "extract":
        with sys.stdout.buffer as out:
            write_po(out, extract())
        return 0
    print("usage: python -m panel.i18n extract|update|compile|check")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
