"""Rung 1 of the Windows test ladder (docs/windows.md), static: the Windows playbooks pass
`ansible-playbook --syntax-check`, and every task that calls a PowerShell module passes the argument
check against `ansible-doc --json` (stock ansible-lint lets a bogus option on such a module through);
the check itself fails on a bogus option, a bad choice and a missing required option."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from provisioners.lab import notwindows
from tests.support import win_args

PLAYBOOKS = win_args.PLAYBOOKS


def test_windows_playbooks_exist_for_every_site_verb_and_host_job():
    names = {p.name for p in win_args.windows_playbooks()}
    for verb in ("create", "update", "suspend", "unsuspend", "delete", "cert"):
        assert f"site_{verb}_iis.yml" in names
    assert {"host_bootstrap_windows.yml", "host_ping_windows.yml"} <= names


def test_syntax_check():
    books = [p.name for p in win_args.windows_playbooks()]
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(PLAYBOOKS / "roles"), "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run(
        ["ansible-playbook", "--syntax-check", "-i", "localhost,", *books],
        cwd=PLAYBOOKS, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert all(f"playbook: {b}" in out.stdout for b in books)


def test_every_windows_module_call_matches_its_documented_arguments():
    found, problems = win_args.check()
    assert problems == []
    modules = {c.module for c in found}
    # The calls that make a site and a host: if one of them stopped being checked, this says so.
    assert {
        "govhost_iis_sites",
        "govhost_iis_usage",
        "ansible.windows.win_user_right",
        "microsoft.iis.web_app_pool",
        "microsoft.iis.website",
        "ansible.windows.win_certificate_store",
        "ansible.windows.win_file",
        "ansible.windows.win_powershell",
        "ansible.windows.win_feature",
        "ansible.windows.win_regedit",
        "community.windows.win_firewall_rule",
    } <= modules


def _broken_copy(tmp_path: Path, edit, role: str = "iis_server", book: str = "host_bootstrap_windows.yml"):
    """A copy of a Windows playbook and one of its roles with `edit` applied to the role's tasks."""
    roles = tmp_path / "roles"
    shutil.copytree(PLAYBOOKS / "roles" / role, roles / role)
    shutil.copy(PLAYBOOKS / book, tmp_path / book)
    tasks_file = roles / role / "tasks" / "main.yml"
    tasks = yaml.safe_load(tasks_file.read_text())
    edit(tasks)
    tasks_file.write_text(yaml.safe_dump(tasks))
    return [tmp_path / book], roles


def _website(tasks) -> dict:
    return next(t["microsoft.iis.website"] for t in tasks if "microsoft.iis.website" in t)


def test_a_bogus_option_fails_the_check(tmp_path):
    books, roles = _broken_copy(tmp_path, lambda tasks: _website(tasks).update(bogus_option=True))
    _, problems = win_args.check(books, roles)
    assert problems == [
        "iis_server/tasks/main.yml: The default website stopped (govhost's sites take ports 80 and 443 by host "
        "name): microsoft.iis.website: bogus_option: unknown option"
    ]


def test_govhost_own_module_is_checked_against_its_documentation(tmp_path):
    """govhost_iis_sites (a PowerShell module of playbooks/library) is documented in the .yml beside
    it; an unknown option and a missing required one on its call are found too (the values it gets are
    templated: the recording endpoint checks them on the wire, provisioners/lab/notwindows.py)."""

    def edit(tasks):
        call = next(t["govhost_iis_sites"] for t in tasks if "govhost_iis_sites" in t)
        call["bogus_option"] = 1
        del call["root"]

    books, roles = _broken_copy(tmp_path, edit, role="iis_site", book="site_create_iis.yml")
    _, problems = win_args.check(books, roles)
    assert sorted(p.split(": govhost_iis_sites: ")[1] for p in problems) == [
        "bogus_option: unknown option",
        "root: required option missing",
    ]


def test_a_bad_choice_a_missing_required_option_and_a_bad_suboption_fail_the_check(tmp_path):
    def edit(tasks):
        site = _website(tasks)
        site["state"] = "paused"
        site["bindings"] = {"set": [{"ip": "*", "port": 443, "hostname": "x", "protocol": "ftp", "sni": True}]}
        del next(t for t in tasks if "microsoft.iis.web_app_pool" in t)["microsoft.iis.web_app_pool"]["name"]

    books, roles = _broken_copy(tmp_path, edit)
    _, problems = win_args.check(books, roles)
    text = "\n".join(problems)
    assert "microsoft.iis.website: state: 'paused' is not one of" in text
    assert "microsoft.iis.website: bindings.set[0].protocol: 'ftp' is not one of ['http', 'https']" in text
    assert "microsoft.iis.website: bindings.set[0].sni: unknown option" in text
    assert "microsoft.iis.web_app_pool: name: required option missing" in text
    assert len(problems) == 4


def test_the_endpoint_refuses_what_govhost_iis_sites_would_refuse():
    """The endpoint checks govhost_iis_sites' arguments against the module's documentation, as
    Ansible.Basic would on Windows: a site entry the role would send with a wrong field is refused
    there, and the job fails with it (the panel never builds one; this builds it by hand)."""
    spec = notwindows.own_module_spec("govhost_iis_sites")
    entry = {
        "name": "w.a.gov.test", "pool": "site1", "state": "paused", "hostnames": ["w.a.gov.test"],
        "bindings": [{"port": "80", "hostname": "w.a.gov.test", "protocol": "ftp", "sni": True}],
        "path": "C:\\x", "wwwroot": "C:\\x\\wwwroot", "logs": "C:\\x\\logs", "archive": "C:\\a.zip",
        "sftp": {"user": "sftp1", "match": "Match User sftp1"},
    }  # fmt: skip
    problems = notwindows.check_args(spec, {"sites": [entry], "root": "C:\\x", "bogus": 1, "sftp": "maybe"})
    assert sorted(problems) == sorted([
        "bogus: unsupported parameter",
        "sites[0].state: 'paused' is not one of ['active', 'suspended', 'absent']",
        "sites[0].bindings[0].protocol: 'ftp' is not one of ['http', 'https']",
        "sites[0].bindings[0].sni: unsupported parameter",
        "sites[0].sftp.match: str is not a list",
        "sites[0].quota_mb: missing required argument",
        "suspended_pool: missing required argument",
        "suspended_path: missing required argument",
        "admins: missing required argument",
        "sftp: str is not a bool",
    ])  # fmt: skip
    assert notwindows.own_module_spec("microsoft.iis.website") is None  # the collections' own: not ours to check


def test_govhost_modules_spec_on_windows_is_the_documented_one():
    """What Ansible.Basic validates on Windows is the .ps1's own `$spec`; every other rung checks
    calls against the .yml documentation. Both must say the same, or a documented option (the
    site's disk quota, quota_mb) passes every rung here and Windows refuses it."""
    assert [p.name for p in win_args.own_modules()] == ["govhost_iis_sites.ps1", "govhost_iis_usage.ps1"]
    assert win_args.own_module_problems() == []
    site = win_args.ps_spec(PLAYBOOKS / "library" / "govhost_iis_sites.ps1")["sites"]["options"]
    assert site["quota_mb"] == {"type": "int", "required": True}


def test_a_module_spec_that_differs_from_its_documentation_fails_the_check(tmp_path):
    library = PLAYBOOKS / "library"
    text = (library / "govhost_iis_sites.ps1").read_text()
    text = text.replace("    quota_mb = @{ type = 'int'; required = $true }\n", "")
    text = text.replace("port = @{ type = 'int'; required = $true }", "port = @{ type = 'str'; required = $true }")
    text = text.replace("sftp = @{ type = 'bool'; default = $false }", "sftp = @{ type = 'bool'; default = $true }")
    text = text.replace("    keys_dir = @{", "    bogus = @{ type = 'str' }\n    keys_dir = @{")
    (tmp_path / "govhost_iis_sites.ps1").write_text(text)
    shutil.copy(library / "govhost_iis_sites.yml", tmp_path / "govhost_iis_sites.yml")
    assert sorted(win_args.own_module_problems([tmp_path / "govhost_iis_sites.ps1"])) == [
        "govhost_iis_sites: bogus: in the module's spec, not documented",
        "govhost_iis_sites: sftp: default is True in the module, False documented",
        "govhost_iis_sites: sites.bindings.port: type is 'str' in the module, 'int' documented",
        "govhost_iis_sites: sites.quota_mb: documented, not in the module's spec",
    ]
