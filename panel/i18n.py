"""`python -m panel.i18n extract|update|compile|check|missing`: the km and en message catalogs.

Sources of msgids: `_()`/`lazy_gettext` in code and `{{ _("...") }}` in templates (babel.cfg), plus the
English messages of service errors (`Invalid("key", "message {x}")` and the `message =` class attributes
of PanelError subclasses), because the web translates them with `_(err.message)` at run time.

The Khmer text lives in panel/i18n_km.json (msgid -> msgstr; `context\\u0004msgid` for pgettext), the
translation memory that survives re-extraction. `update` merges the catalogs and writes every km msgstr
from it; `check` (run by CI) fails when a string is missing from a catalog or from the JSON, when a km
string is untranslated, fuzzy or loses/adds a placeholder, or when a compiled .mo is stale.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
TRANSLATIONS = ROOT / "translations"
KM_JSON = ROOT / "i18n_km.json"
LOCALES = ("km", "en")
KEYWORDS = {
    "_": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
}
ERROR_BASE = "PanelError"
CTX_SEP = "\x04"  # gettext's own separator between msgctxt and msgid
# %(name)s, %s, %d ..., a lone % (breaks `%` formatting), {name} / {0} / {name!r:>4}
PLACEHOLDER = re.compile(
    r"%%|%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%"
    r"|\{\{|\}\}|\{[^{}]*\}"
)


# ---------------------------------------------------------------- extraction


def extract() -> Catalog:
    with open(REPO / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="govhost", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for filename, lineno, message in extract_errors():
        known = catalog.get(message)
        if known is not None:
            known.locations.append((filename, lineno))
        else:
            catalog.add(
                message,
                None,
                [(filename, lineno)],
                flags=("python-brace-format",),
                auto_comments=["service error message, formatted with str.format"],
            )
    return catalog


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts or "translations" in path.parts:
            continue
        try:
            out.append((str(path.relative_to(REPO)), ast.parse(path.read_text(encoding="utf-8"))))
        except (SyntaxError, UnicodeDecodeError):  # a file mid-edit by someone else: skip it this run
            continue
    return out


def _call_name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _error_classes(modules) -> dict[str, list[tuple[str, int, str]]]:
    """Names of PanelError and its subclasses (any module) -> their `message = "..."` attributes."""
    classes: dict[str, tuple[list[str], list[tuple[str, int, str]]]] = {}
    for filename, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                msgs = [
                    (filename, st.lineno, st.value.value)
                    for st in node.body
                    if isinstance(st, ast.Assign)
                    and isinstance(st.value, ast.Constant)
                    and isinstance(st.value.value, str)
                    and any(isinstance(t, ast.Name) and t.id == "message" for t in st.targets)
                ]
                classes[node.name] = (bases, msgs)
    found = {ERROR_BASE} & classes.keys()
    grew = True
    while grew:
        new = {n for n, (bases, _) in classes.items() if n not in found and found & set(bases)}
        found |= new
        grew = bool(new)
    return {n: classes[n][1] for n in found}


def _message_arg(call: ast.Call, index: int, name: str) -> ast.expr | None:
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _strings(node: ast.expr | None) -> list[str] | None:
    """The literal message(s) of an argument; None when it is not literal (a variable, an f-string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _strings(node.body), _strings(node.orelse)
        return a + b if a is not None and b is not None else None
    return None


def _calls(tree: ast.AST, fn=None):
    """(call, innermost enclosing function or None) for every call in the tree."""
    for child in ast.iter_child_nodes(tree):
        inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else fn
        if isinstance(child, ast.Call):
            yield child, fn
        yield from _calls(child, inner)


def _scan_errors(modules):
    """Messages given to error constructors, directly or through helpers that forward a parameter.

    A helper like `def _bad(key, message, field): return Invalid(key, message, ...)` becomes a
    constructor too, with the message at the position of its `message` parameter; repeated until no
    new helper appears, so chains of helpers are followed.
    """
    classes = _error_classes(modules)
    ctors: dict[str, tuple[int, str]] = dict.fromkeys(classes, (1, "message"))
    calls = [(filename, call, fn) for filename, tree in modules for call, fn in _calls(tree)]
    changed = True
    while changed:
        changed, found, unresolved = False, set(), {}
        for msgs in classes.values():
            found.update(msgs)
        for filename, call, fn in calls:
            name = _call_name(call)
            if name not in ctors:
                continue
            arg = _message_arg(call, *ctors[name])
            texts = _strings(arg)
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args] if fn else []
            if texts is not None:
                found.update((filename, call.lineno, t) for t in texts)
            elif (
                isinstance(arg, ast.Name)
                and fn is not None
                and not isinstance(fn, ast.Lambda)
                and arg.id in params + [a.arg for a in fn.args.kwonlyargs]
            ):
                pos = params.index(arg.id) if arg.id in params else 10_000
                if fn.name not in ctors:
                    ctors[fn.name] = (pos, arg.id)
                    changed = True
            elif arg is not None:
                unresolved[(filename, call.lineno)] = ast.unparse(arg)[:60]
    return sorted(found), unresolved


def extract_errors() -> list[tuple[str, int, str]]:
    messages, _ = _scan_errors(_modules())
    return [(f, line, m) for f, line, m in messages if m.strip()]


# ---------------------------------------------------------------- catalogs


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    p = po_path(locale)
    if not p.exists():
        return Catalog(locale=locale, project="govhost")
    with p.open("rb") as f:
        return read_po(f, locale=locale)


def memory() -> dict[str, str]:
    """panel/i18n_km.json: msgid (or `context\\x04msgid`) -> Khmer."""
    if not KM_JSON.exists():
        return {}
    with KM_JSON.open(encoding="utf-8") as f:
        return json.load(f)


def _key(m) -> str:
    mid = m.id[0] if isinstance(m.id, tuple) else m.id
    return f"{m.context}{CTX_SEP}{mid}" if m.context else mid


def _source(m) -> str:
    """The English the Khmer must match: for ngettext the plural form, as Khmer's one form serves every n."""
    return m.id[-1] if isinstance(m.id, tuple) else m.id


def _km_string(m, text: str):
    # Khmer has one plural form (nplurals=1): msgstr[0] is the only entry.
    return (text,) if isinstance(m.id, tuple) else text


def apply_memory(cat: Catalog, tm: dict[str, str]) -> None:
    """The JSON is the source of truth: every km msgstr comes from it, none is kept from elsewhere."""
    for m in cat:
        if not m.id:
            continue
        text = tm.get(_key(m))
        if text and placeholder_problem(_source(m), text):
            text = ""  # a broken placeholder would crash formatting at run time: English is shown instead
        m.string = _km_string(m, text) if text else ("",) if isinstance(m.id, tuple) else ""
        m.flags.discard("fuzzy")


def update() -> None:
    template = extract()
    tm = memory()
    for locale in LOCALES:
        cat = load(locale)
        # Catalog.update adds the template's own Message objects: a copy keeps locales apart.
        cat.update(copy.deepcopy(template), no_fuzzy_matching=True)
        if locale == "en":  # English is the source language: msgstr = msgid
            for m in cat:
                if m.id:
                    m.string = m.id
        else:
            apply_memory(cat, tm)
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


# ---------------------------------------------------------------- checks


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text))


def placeholder_problem(msgid: str, msgstr: str) -> str | None:
    want, have = placeholders(msgid), placeholders(msgstr)
    if want == have:
        return None
    lost, extra = sorted((want - have).elements()), sorted((have - want).elements())
    return f"placeholders differ: missing {lost}, unexpected {extra}"


def missing_from_memory(template: Catalog, tm: dict[str, str]) -> dict[str, str]:
    return {_key(m): "" for m in template if m.id and not tm.get(_key(m))}


def check_memory(template: Catalog, tm: dict[str, str]) -> list[str]:
    problems = []
    for m in template:
        if not m.id:
            continue
        text = tm.get(_key(m))
        why = placeholder_problem(_source(m), text) if text else None
        if why:
            problems.append(f"km: {why} in {_key(m)!r} -> {text!r}")
    return problems


def check_catalog(locale: str, template: Catalog, tm: dict[str, str]) -> list[str]:
    problems = []
    cat = load(locale)
    for m in template:
        if not m.id:
            continue
        have = cat.get(m.id, context=m.context)
        if have is None:
            problems.append(f"{locale}: missing {m.id!r} ({m.locations[0][0]}:{m.locations[0][1]}) (run update)")
        elif not have.string or (isinstance(have.string, tuple) and not all(have.string)):
            problems.append(f"{locale}: untranslated {m.id!r}")
        elif have.fuzzy:
            problems.append(f"{locale}: fuzzy {m.id!r}")
        elif locale == "en" and have.string != have.id:
            problems.append(f"en: msgstr of {m.id!r} is not its msgid (run update)")
        elif locale == "km" and tm.get(_key(m)) and have.string != _km_string(m, tm[_key(m)]):
            problems.append(f"km: {m.id!r} differs from panel/i18n_km.json (run update)")
    mo = po_path(locale).with_suffix(".mo")
    # Contents, not bytes: the .mo is built at setup (never committed) and its header names the Babel
    # that wrote it, so only a .mo whose messages differ from the .po is stale.
    if mo.exists() and _messages(read_mo(mo.open("rb"))) != _messages(cat):
        problems.append(f"{locale}: {mo.relative_to(REPO)} is not compiled from its .po (run compile)")
    return problems


def _messages(cat: Catalog) -> dict:
    def plain(v):  # a plural entry reads back from a .mo as lists, from a .po as tuples
        return tuple(v) if isinstance(v, (list, tuple)) else v

    return {(m.context, plain(m.id)): plain(m.string) for m in cat if m.id and m.string and not m.fuzzy}


def check() -> int:
    template = extract()
    tm = memory()
    todo = missing_from_memory(template, tm)
    problems = check_memory(template, tm)
    for locale in LOCALES:
        problems += check_catalog(locale, template, tm)
    for p in problems[:200]:
        print(p)
    _, unresolved = _scan_errors(_modules())
    for (filename, line), expr in sorted(unresolved.items()):
        print(f"note: error message at {filename}:{line} is not a literal ({expr}); it cannot be translated")
    if todo:
        print(
            f"\n{len(todo)} msgids have no Khmer in {KM_JSON.relative_to(REPO)}; add these entries "
            "(then run `python -m panel.i18n update`):"
        )
        print(json.dumps(todo, ensure_ascii=False, indent=2))
    print(f"{len(template)} strings, {len(problems)} problems")
    return 1 if problems or todo else 0


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
    if cmd == "missing":  # just the JSON entries still to write
        print(json.dumps(missing_from_memory(extract(), memory()), ensure_ascii=False, indent=2))
        return 0
    if cmd == "extract":
        with sys.stdout.buffer as out:
            write_po(out, extract())
        return 0
    print("usage: python -m panel.i18n extract|update|compile|check|missing")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
