"""WinRM over HTTPS for Windows Server 2019 (docs/windows.md): a host's transport is ssh or winrm;
winrm means HTTPS only (never port 5985), the host's certificate validated against the data center
CA, client certificate or Kerberos authentication (NTLM, Basic, CredSSP refused), credentials sealed
at once and given to Ansible without appearing in the inventory, job output or the audit log.

pywinrm is not installed (not in the lock file): no WinRM connection runs here. What runs is the
validation on every surface, the inventory the panel builds, and a real ansible-playbook run whose
WinRM connection plugin is loaded with that inventory and stops at the missing pywinrm, before any
traffic, without a secret in its events or explanation."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from panel import db
from panel.jobs.capabilities import target_of
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostTransport
from provisioners import ansible as ansible_run
from provisioners.base import PlaybookSpec, ProvisionError, Target, WinRM
from provisioners.inventory import build_inventory
from tests.capabilities.sites.test_names_certs import _cert, _pem
from tests.hosts.conftest import post_form
from tests.support.fixtures import login_as, token_for  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "192.0.2.19"  # outside the lab's managed network (the panel cannot bind WinRM's source)
PASSWORD = "Kerberos-Pa55-of-the-test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("winrm-pki")
    ca_key, key, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("Data Center CA", ca_key, ca=True)
    client = _cert("govhost-winrm", key, "Data Center CA", ca_key)
    (d / "dc-ca.pem").write_text(_pem(ca))
    return dataclasses.make_dataclass("Pki", ["ca_file", "cert", "key", "other_key"])(
        str(d / "dc-ca.pem"), _pem(client), _pem(key), _pem(other)
    )


@pytest.fixture
def settings(settings, pki):
    """The data center CA is configured (ansible.winrm_ca_bundle)."""
    return dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, winrm_ca_bundle=pki.ca_file))


def kerberos(**kw) -> dict:
    return {"auth": "kerberos", "user": "govhost@GOV.TEST", "password": PASSWORD, **kw}


BASE = {"name": "win19", "address": ADDRESS, "os": "windows", "transport": "winrm"}

# (what is sent, error key, field, message fragment): each bad combination, refused before anything
# is stored, with the same key on the web, the API and the CLI.
BAD = [
    ({"transport": "telnet"}, "host.transport_invalid", "transport", "ssh or winrm"),
    ({"os": "linux", "winrm": kerberos()}, "host.winrm_not_windows", "transport", "Windows hosts only"),
    ({"port": 5985, "winrm": kerberos()}, "host.winrm_http", "port", "HTTPS only"),
    ({"winrm": kerberos(auth="ntlm")}, "host.winrm_auth_refused", "winrm_auth", "WinRM ntlm is refused"),
    ({"winrm": kerberos(auth="basic")}, "host.winrm_auth_refused", "winrm_auth", "WinRM basic is refused"),
    ({"winrm": kerberos(auth="credssp")}, "host.winrm_auth_refused", "winrm_auth", "refused"),
    ({"winrm": kerberos(auth="")}, "host.winrm_auth_invalid", "winrm_auth", "certificate or kerberos"),
    ({"winrm": kerberos(user="govhost")}, "host.winrm_user_invalid", "winrm_user", "user@REALM"),
    ({"winrm": kerberos(password="")}, "host.winrm_password_invalid", "winrm_password", "password"),
    ({"transport": "ssh", "winrm": kerberos()}, "host.winrm_without_transport", "transport", "transport winrm"),
]


def bad_certificate_cases(pki) -> list:
    return [
        (
            {"winrm": {"auth": "certificate", "cert_pem": "", "key_pem": pki.key}},
            "host.winrm_cert_invalid",
            "winrm_cert",
        ),
        (
            {"winrm": {"auth": "certificate", "cert_pem": pki.cert, "key_pem": "x"}},
            "host.winrm_key_invalid",
            "winrm_key",
        ),
        (
            {"winrm": {"auth": "certificate", "cert_pem": pki.cert, "key_pem": pki.other_key}},
            "host.winrm_key_mismatch",
            "winrm_key",
        ),
        (
            {"winrm": {"auth": "certificate", "cert_pem": pki.cert, "key_pem": pki.key, "password": "x"}},
            "host.winrm_mixed",
            "winrm_user",
        ),
    ]


def _api_body(case: dict) -> dict:
    body = {**BASE, **{k: v for k, v in case.items() if k != "winrm"}}
    names = {"auth": "winrm_auth", "cert_pem": "winrm_cert", "key_pem": "winrm_key", "user": "winrm_user"}
    for k, v in (case.get("winrm") or {}).items():
        body[names.get(k, "winrm_password")] = v
    return body


def _hosts() -> int:
    with db.unit_of_work() as s:
        return len(s.scalars(select(Host)).all())


@pytest.mark.parametrize(("case", "key", "field", "text"), BAD)
def test_api_refuses_each_bad_combination(client, operator, api_token, case, key, field, text):
    r = client.post("/api/v1/hosts/", json=_api_body(case), headers=api_token(operator))
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    assert (r.json["key"], r.json["field"]) == (key, field) and text in r.json["detail"], r.json
    assert _hosts() == 0


def test_api_refuses_bad_client_certificates_and_a_missing_ca(client, operator, api_token, pki, app):
    h = api_token(operator)
    for case, key, field in bad_certificate_cases(pki):
        r = client.post("/api/v1/hosts/", json=_api_body(case), headers=h)
        assert r.status_code == 422 and (r.json["key"], r.json["field"]) == (key, field), r.json
    assert _hosts() == 0


def test_without_the_data_center_ca_no_host_may_use_winrm(client, operator, api_token, settings, monkeypatch):
    from panel.services import hosts as hosts_svc

    no_ca = dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, winrm_ca_bundle=""))
    monkeypatch.setattr(hosts_svc, "current_settings", lambda: no_ca)
    r = client.post("/api/v1/hosts/", json=_api_body({"winrm": kerberos()}), headers=api_token(operator))
    assert r.status_code == 422 and r.json["key"] == "host.winrm_no_ca" and "data center CA" in r.json["detail"]


@pytest.mark.parametrize(("case", "key", "field", "text"), BAD[1:])
def test_web_refuses_each_bad_combination_on_its_field(client, operator, web_login, case, key, field, text):
    from panel.services import hosts as hosts_svc

    web_login(operator)
    form = {
        "ssh_user": "root",
        **{f"capacity_{c.resource}": "1" for c in hosts_svc.capacities()},
        **{k: str(v) for k, v in _api_body(case).items()},
    }
    r = post_form(client, "/hosts/new", form)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "field-error" in page and text.replace("'", "&#39;") in page, page[-3000:]
    assert PASSWORD not in page  # a password field is never echoed back
    assert _hosts() == 0


@pytest.mark.parametrize(("case", "key", "field", "text"), BAD[1:])
def test_cli_refuses_each_bad_combination(cli, tmp_path, case, key, field, text):
    body = _api_body(case)
    args = ["hosts", "register", body["name"], body["address"], "--os", body["os"], "--transport", body["transport"]]
    if "port" in body:
        args += ["--port", str(body["port"])]
    if body.get("winrm_auth") is not None:
        args += ["--winrm-auth", body["winrm_auth"]]
    if body.get("winrm_user"):
        args += ["--winrm-user", body["winrm_user"]]
    if body.get("winrm_password"):
        (tmp_path / "pw").write_text(body["winrm_password"] + "\n")
        args += ["--winrm-password-file", str(tmp_path / "pw")]
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert text in " ".join(r.output.split())
    assert _hosts() == 0


def test_a_winrm_host_is_registered_sealed_and_built_into_an_inventory_without_its_secrets(
    client, operator, api_token, cli, pki, tmp_path
):
    """Kerberos by the API, certificate by the CLI: stored with the credentials sealed, shown with
    its transport and never its secrets, not in the audit log; its job target carries them, and the
    inventory refers to them without holding them."""
    h = api_token(operator)
    r = client.post("/api/v1/hosts/", json=_api_body({"winrm": kerberos()}), headers=h)
    assert r.status_code == 201, r.json
    assert (r.json["transport"], r.json["winrm_auth"], r.json["port"]) == ("winrm", "kerberos", 5986)
    assert PASSWORD not in r.get_data(as_text=True) and r.json["fingerprint"] == ""

    (tmp_path / "c.pem").write_text(pki.cert)
    (tmp_path / "k.pem").write_text(pki.key)
    r = cli(
        "hosts", "register", "win19c", "192.0.2.20", "--os", "windows", "--transport", "winrm",
        "--winrm-auth", "certificate", "--winrm-cert", str(tmp_path / "c.pem"), "--winrm-key", str(tmp_path / "k.pem"),
    )  # fmt: skip
    assert r.exit_code == 0 and "WinRM/HTTPS (certificate)" in r.output, r.output

    key_body = "".join(pki.key.splitlines()[1:-1])
    with db.unit_of_work() as s:
        rows = {h.name: h for h in s.scalars(select(Host)).all()}
        audit = " ".join(a.summary for a in s.scalars(select(AuditEntry)).all())
        for row in rows.values():
            assert row.transport == HostTransport.WINRM
            assert PASSWORD not in row.winrm_secret and key_body[:40] not in row.winrm_secret  # sealed
            assert row.winrm_secret not in audit and '"transport":"winrm"' in audit
        targets = {n: target_of(row) for n, row in rows.items()}
    assert PASSWORD not in audit and key_body[:40] not in audit
    assert targets["win19"].winrm.password == PASSWORD and targets["win19"].winrm.user == "govhost@GOV.TEST"
    assert targets["win19c"].winrm.key_pem.strip() == pki.key.strip()
    assert PASSWORD not in repr(targets["win19"]) and key_body[:40] not in repr(targets["win19c"])

    inv = build_inventory(
        [targets["win19"], targets["win19c"]], known_hosts_file="/kh", ssh_key_file="/k",
        winrm_cert_files={"win19c": ("/run/c.crt", "/run/c.key")},
    )["all"]["hosts"]  # fmt: skip
    common = {
        "ansible_connection": "winrm", "ansible_port": 5986, "ansible_winrm_scheme": "https",
        "ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": pki.ca_file,
        "ansible_winrm_message_encryption": "auto", "ansible_shell_type": "powershell", "ansible_become": False,
    }  # fmt: skip
    assert inv["win19"] == {
        **common, "ansible_host": ADDRESS, "ansible_winrm_transport": "kerberos", "ansible_user": "govhost@GOV.TEST",
        "ansible_password": "{{ govhost_winrm_password_0 }}", "ansible_winrm_kinit_mode": "managed",
    }  # fmt: skip
    assert inv["win19c"] == {
        **common, "ansible_host": "192.0.2.20", "ansible_winrm_transport": "certificate",
        "ansible_winrm_cert_pem": "/run/c.crt", "ansible_winrm_cert_key_pem": "/run/c.key",
    }  # fmt: skip


def test_probe_and_rekey_speak_ssh_so_a_winrm_host_is_told_to_use_its_ping_job(client, operator, admin, api_token):
    h = api_token(operator)
    host_id = client.post("/api/v1/hosts/", json=_api_body({"winrm": kerberos()}), headers=h).json["id"]
    r = client.post(f"/api/v1/hosts/{host_id}/probe", headers=h)
    assert r.status_code == 422 and r.json["key"] == "host.winrm_no_ssh" and "host.ping" in r.json["detail"]


def test_targets_refuse_what_the_panel_refuses(pki):
    """The provisioners library checks again (a caller other than the panel: a bench, a test)."""
    ok = WinRM(auth="kerberos", ca_bundle=pki.ca_file, user="govhost@GOV.TEST", password=PASSWORD)
    for kw, text in (
        ({"os": "linux"}, "Windows hosts only"),
        ({"port": 5985}, "5985 is HTTP"),
        ({"source_address": "10.87.0.1"}, "source address"),
    ):
        with pytest.raises(ProvisionError, match=text):
            Target(**{"name": "w", "address": ADDRESS, "port": 5986, "os": "windows", "winrm": ok, **kw})
    for kw, text in (
        ({"auth": "ntlm"}, "refused"),
        ({"ca_bundle": ""}, "data center CA"),
        ({"user": "govhost"}, "user@REALM"),
        ({"auth": "certificate", "password": ""}, "client certificate"),
    ):
        with pytest.raises(ProvisionError, match=text):
            dataclasses.replace(ok, **kw)


def test_a_real_run_loads_the_winrm_plugin_and_stops_at_missing_pywinrm_without_leaking(pki, tmp_path):
    """ansible-playbook reads the inventory the panel builds (both authentications), loads Ansible's
    WinRM connection plugin and fails on the missing pywinrm before any traffic: the run is failed
    with that reason, no secret is in its events or explanation, and its 0600 files are gone."""
    kerb = Target(
        name="wk", address="127.0.0.1", port=5986, os="windows",
        winrm=WinRM(auth="kerberos", ca_bundle=pki.ca_file, user="govhost@GOV.TEST", password=PASSWORD),
    )  # fmt: skip
    cert = Target(
        name="wc", address="127.0.0.2", port=5986, os="windows",
        winrm=WinRM(auth="certificate", ca_bundle=pki.ca_file, cert_pem=pki.cert, key_pem=pki.key),
    )  # fmt: skip
    key = tmp_path / "ssh_key"
    key.write_text("unused: no SSH target in this run\n")
    spec = PlaybookSpec(playbook="host_ping_windows.yml", project_dir=str(ROOT / "playbooks"), ssh_key=str(key))
    events, seen = [], {}
    real_prepare = ansible_run._prepare

    def prepare(job, *a):  # what the run's folder holds while it runs
        out = real_prepare(job, *a)
        seen["files"] = {p.name: stat.S_IMODE(p.stat().st_mode) for p in job.iterdir() if p.is_file()}
        seen["inventory"] = yaml.safe_load(Path(out["inventory"]).read_text())
        seen["job"] = job
        return out

    ansible_run._prepare = prepare
    try:
        r = ansible_run.run_playbook(spec, [kerb, cert], on_event=events.append, timeout=120, workdir_parent=tmp_path)
    finally:
        ansible_run._prepare = real_prepare
    assert r.status == "failed" and "winrm or requests is not installed" in r.explanation, r.explanation
    assert seen["files"]["winrm-wc.key"] == 0o600 and seen["files"]["winrm-wc.crt"] == 0o600
    text = json.dumps(seen["inventory"])
    key_body = "".join(pki.key.splitlines()[1:-1])
    assert PASSWORD not in text and key_body[:40] not in text
    everything = r.explanation + json.dumps(events, default=str)
    assert PASSWORD not in everything and key_body[:40] not in everything
    assert not os.path.exists(seen["job"])
