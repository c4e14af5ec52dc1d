"""Argument check of the tasks that call Windows (PowerShell) modules, against `ansible-doc --json`.

ansible-lint checks a Python module's arguments by loading its argument spec; a PowerShell module
has none it can load, so `bogus_option:` on `microsoft.iis.website` passes it, and Windows would be
the first to say so. This walks the Windows playbooks and the roles they use, and checks each task
of the Windows collections against the module's documented options: unknown options (aliases
allowed), values outside `choices`, required options missing, recursively into literal suboptions.
Templated values ("{{ ... }}") cannot be known here: the wire-contract tests see what they become.

govhost's own PowerShell modules are checked twice more: their argument spec as Windows reads it
(the `$spec` hashtable in the .ps1, what Ansible.Basic validates against there) must say what their
documentation (the .yml beside it, what every rung here checks calls against) says: the same
options, types, required, choices, elements and defaults, into suboptions. Otherwise a documented
option the .ps1 lacks passes every rung and Windows refuses it ("Unsupported parameters").

`python -m tests.support.win_args` prints the problems and exits 1 if there are any.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
# govhost's own PowerShell modules (playbooks/library/govhost_*.ps1, documented in the .yml beside
# each) are checked the same way: in a Windows playbook a govhost_ module is the PowerShell one.
WINDOWS_PREFIXES = ("ansible.windows.", "microsoft.iis.", "community.windows.", "govhost_")


@dataclass(frozen=True)
class Call:
    where: str  # file and task name
    module: str
    args: dict


def windows_playbooks(root: Path = PLAYBOOKS) -> list[Path]:
    return sorted([*root.glob("*_iis.yml"), *root.glob("*_windows.yml")])


ROLE_IMPORTS = ("ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role")


def _tasks(items, where: str):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        for part in ("block", "rescue", "always"):
            yield from _tasks(task.get(part), where)
        yield task, f"{where}: {task.get('name', '?')}"


def _role_files(play: dict, roles_dir: Path) -> list[Path]:
    """Tasks and handlers of the play's roles, and the task files it imports or includes from roles."""
    out = []
    for role in play.get("roles") or []:
        name = role if isinstance(role, str) else role.get("role") or role.get("name")
        out += [roles_dir / name / "tasks" / "main.yml", roles_dir / name / "handlers" / "main.yml"]
    for part in ("pre_tasks", "tasks", "post_tasks"):
        for task, _ in _tasks(play.get(part), ""):
            spec = next((task[k] for k in ROLE_IMPORTS if isinstance(task.get(k), dict)), None)
            if spec:
                name = spec["name"]
                out += [
                    roles_dir / name / "tasks" / f"{spec.get('tasks_from', 'main')}.yml",
                    roles_dir / name / "handlers" / "main.yml",
                ]
    return out


def calls(playbooks: list[Path], roles_dir: Path) -> list[Call]:
    """Every task of the Windows collections in the playbooks and the roles they use (each role once)."""
    seen: set[Path] = set()
    found: list[Call] = []
    sources: list[tuple[list, str]] = []
    for pb in playbooks:
        for play in yaml.safe_load(pb.read_text()) or []:
            for part in ("pre_tasks", "tasks", "post_tasks"):
                sources.append((play.get(part), pb.name))
            for f in _role_files(play, roles_dir):
                if f not in seen and f.is_file():
                    seen.add(f)
                    sources.append((yaml.safe_load(f.read_text()), str(f.relative_to(roles_dir))))
    for items, where in sources:
        for task, label in _tasks(items, where):
            module = next((k for k in task if k.startswith(WINDOWS_PREFIXES)), None)
            if module is None:
                continue
            args = task.get(module)
            args = dict(args) if isinstance(args, dict) else {}
            args.update(task.get("args") or {})
            found.append(Call(label, module, args))
    return found


def docs(modules: set[str]) -> dict[str, dict]:
    """{module: its documented options}, from one `ansible-doc --json` run."""
    out = subprocess.run(
        ["ansible-doc", "--json", *sorted(modules)], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )  # cwd: the repository's ansible.cfg names playbooks/library
    data = json.loads(out.stdout)
    missing = modules - set(data)
    if missing:
        raise LookupError(f"ansible-doc knows no module {', '.join(sorted(missing))}")
    return {m: data[m]["doc"].get("options") or {} for m in data}


def _templated(value) -> bool:
    return isinstance(value, str) and "{{" in value


def check_options(options: dict, args: dict, path: str) -> list[str]:
    problems = []
    names = {}
    for opt, spec in options.items():
        names[opt] = opt
        for alias in spec.get("aliases") or []:
            names[alias] = opt
    given = {names[k] for k in args if k in names}
    for key, value in args.items():
        if key not in names:
            problems.append(f"{path}{key}: unknown option")
            continue
        spec = options[names[key]]
        if _templated(value) or value is None:
            continue
        choices = spec.get("choices")
        values = value if isinstance(value, list) and spec.get("type") == "list" else [value]
        if choices:
            for v in values:
                if not _templated(v) and v not in choices and str(v) not in [str(c) for c in choices]:
                    problems.append(f"{path}{key}: {v!r} is not one of {choices}")
        sub = spec.get("suboptions")
        if sub:
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    label = f"{path}{key}[{i}]." if isinstance(value, list) else f"{path}{key}."
                    problems += check_options(sub, item, label)
    for opt, spec in options.items():
        if spec.get("required") and opt not in given:
            problems.append(f"{path}{opt}: required option missing")
    return problems


def check(playbooks: list[Path] | None = None, roles_dir: Path = PLAYBOOKS / "roles") -> tuple[list[Call], list[str]]:
    """(the calls checked, the problems found: "file: task: module: option: what")."""
    found = calls(windows_playbooks() if playbooks is None else playbooks, roles_dir)
    known = docs({c.module for c in found}) if found else {}
    problems = []
    for c in found:
        problems += [f"{c.where}: {c.module}: {p}" for p in check_options(known[c.module], c.args, "")]
    return found, problems


# ---- govhost's own modules: the .ps1's argument spec against the .yml documentation --------------

_TOKEN = re.compile(
    r"\s*(?:(?P<open>@\{|@\()|(?P<close>[})])|(?P<sep>[;,\n])|(?P<eq>=)|'(?P<sq>(?:[^']|'')*)'"
    r'|"(?P<dq>[^"$`]*)"|\$(?P<var>\w+)|(?P<num>-?[0-9]+)|(?P<word>\w+))',
    re.ASCII,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    text = re.sub(r"(?m)^\s*#.*$|\s#.*$", "", text)  # comments (none inside the specs' strings)
    out, pos = [], 0
    while pos < len(text):
        if text[pos] in " \t\r":
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read the PowerShell spec at {text[pos : pos + 40]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Spec:
    """The PowerShell literals a module's argument spec is written in: hashtables, arrays, strings,
    numbers, $true/$false/$null and variables assigned before (`$siteSpec = @{...}`)."""

    def __init__(self, tokens, variables: dict):
        self.t, self.i, self.vars = tokens, 0, variables

    def _skip(self, kinds=("sep",)):
        while self.i < len(self.t) and self.t[self.i][0] in kinds and self.t[self.i][1] in ";\n":
            self.i += 1

    def value(self):
        self._skip()
        kind, text = self.t[self.i]
        self.i += 1
        if kind == "open" and text == "@{":
            out = {}
            while True:
                self._skip()
                if self.t[self.i][0] == "close":
                    self.i += 1
                    return out
                key = self.t[self.i][1]
                assert self.t[self.i + 1][0] == "eq", f"expected = after {key}"
                self.i += 2
                out[key] = self.value()
        if kind == "open":
            items = []
            while True:
                while self.t[self.i][0] == "sep":
                    self.i += 1
                if self.t[self.i][0] == "close":
                    self.i += 1
                    return items
                items.append(self.value())
        if kind in ("sq", "dq"):
            return text.replace("''", "'") if kind == "sq" else text
        if kind == "num":
            return int(text)
        if kind == "var":
            consts = {"true": True, "false": False, "null": None}
            return consts[text.lower()] if text.lower() in consts else self.vars[text]
        raise ValueError(f"unexpected {text!r} in the PowerShell spec")


def ps_spec(path: Path) -> dict:
    """The `options` of the `$spec` a govhost PowerShell module hands to Ansible.Basic."""
    head = path.read_text().split("[Ansible.Basic.AnsibleModule]::Create", 1)[0]
    variables: dict = {}
    for m in re.finditer(r"(?m)^\$(\w+)\s*=\s*(?=@\{)", head):
        parser = _Spec(_tokens(head[m.end() :]), variables)
        variables[m.group(1)] = parser.value()
    return variables["spec"]["options"]


_TYPE_DEFAULT = "str"


def spec_problems(ps: dict, doc: dict, path: str = "") -> list[str]:
    """Where the .ps1's options and the documentation's differ (names, type, required, choices,
    elements, default, suboptions)."""
    problems = [f"{path}{k}: documented, not in the module's spec" for k in doc if k not in ps]
    problems += [f"{path}{k}: in the module's spec, not documented" for k in ps if k not in doc]
    for name in (k for k in doc if k in ps):
        p, d = ps[name], doc[name]
        attrs = (("type", _TYPE_DEFAULT), ("required", False), ("choices", None), ("elements", None))
        for attr, default in (*attrs, ("default", None)):
            mine, said = p.get(attr, default), d.get(attr, default)
            if mine != said:
                problems.append(f"{path}{name}: {attr} is {mine!r} in the module, {said!r} documented")
        if p.get("options") or d.get("suboptions"):
            problems += spec_problems(p.get("options") or {}, d.get("suboptions") or {}, f"{path}{name}.")
    return problems


def own_modules(library: Path = PLAYBOOKS / "library") -> list[Path]:
    return sorted(p for p in library.glob("govhost_*.ps1") if p.with_suffix(".yml").is_file())


def own_module_problems(modules: list[Path] | None = None) -> list[str]:
    """Each govhost PowerShell module's spec against its documentation: "module: option: what"."""
    problems = []
    for ps1 in own_modules() if modules is None else modules:
        doc = yaml.safe_load(ps1.with_suffix(".yml").read_text())["DOCUMENTATION"]["options"]
        problems += [f"{ps1.stem}: {p}" for p in spec_problems(ps_spec(ps1), doc)]
    return problems


def main() -> int:
    found, problems = check()
    own = own_module_problems()
    for p in own:
        print(p)
    print(f"{len(own_modules())} govhost PowerShell module specs checked against their documentation")
    problems += own
    for p in problems:
        print(p)
    print(f"{len(found)} Windows module calls checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
