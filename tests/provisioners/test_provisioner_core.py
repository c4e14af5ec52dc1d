"""Provisioner core without hosts: redaction, !unsafe extravars, inventory and known_hosts."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
import yaml

from provisioners.ansible import dump_vars
from provisioners.base import ProvisionError, Target, source_for
from provisioners.events import EventCollector
from provisioners.inventory import build_inventory, known_hosts
from provisioners.redact import MASK, redact, redact_obj

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
SECRET = "pä$$ word/+="


def test_redact_every_spelling():
    text = " | ".join([SECRET, base64.b64encode(SECRET.encode()).decode(), quote_plus(SECRET), "keep me"])
    out = redact(text, {"pw": SECRET})
    assert out == " | ".join([MASK] * 3 + ["keep me"])
    assert redact_obj({"a": [SECRET, 1], SECRET: None}, [SECRET]) == {"a": [MASK, 1], MASK: None}
    assert redact("short ab", ["ab"]) == "short ab"  # too short to be a secret; never blanks words


def test_extravars_are_unsafe_for_ansible():
    text = dump_vars({"fqdn": "{{ lookup('pipe', 'id') }}", "items": [{"name": "; id"}], "n": 3})
    assert text.count("!unsafe") == 6  # every key and string value
    assert "fqdn': !unsafe '{{ lookup(''pipe'', ''id'') }}'" in text
    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_constructor("!unsafe", lambda ld, node: ld.construct_scalar(node))
    data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass that knows !unsafe
    assert data == {"fqdn": "{{ lookup('pipe', 'id') }}", "items": [{"name": "; id"}], "n": 3}


@pytest.mark.parametrize(
    "kw",
    [
        {"name": "a b"},
        {"name": "x", "host_key": ""},
        {"name": "x", "port": 0},
        {"name": "x", "host_key_type": "ssh-dss"},
        {"name": "x", "user": "-oProxy"},
    ],
)
def test_target_refuses_bad_values(kw):
    base = {"name": "web1", "address": "10.77.0.11", "host_key_type": "ssh-ed25519", "host_key": KEY}
    with pytest.raises(ProvisionError):
        Target(**{**base, **kw})


def test_inventory_pins_keys_and_binds_only_targets_with_a_source_address():
    lab = Target("web1", "10.77.0.11", host_key_type="ssh-ed25519", host_key=KEY, source_address="10.77.0.1")
    far = Target("far", "192.0.2.7", port=2222, user="govhost", host_key_type="ssh-ed25519", host_key=KEY)
    assert known_hosts([lab, far]) == f"10.77.0.11 ssh-ed25519 {KEY}\n[192.0.2.7]:2222 ssh-ed25519 {KEY}\n"
    hosts = build_inventory([lab, far], known_hosts_file="/k", ssh_key_file="/key")["all"]["hosts"]
    assert "StrictHostKeyChecking=yes" in hosts["web1"]["ansible_ssh_common_args"]
    assert "BindAddress=10.77.0.1" in hosts["web1"]["ansible_ssh_common_args"]
    assert "BindAddress" not in hosts["far"]["ansible_ssh_common_args"]
    assert hosts["far"]["ansible_become"] is True and hosts["web1"]["ansible_become"] is False
    with pytest.raises(ProvisionError):
        build_inventory([lab, lab], known_hosts_file="/k", ssh_key_file="/key")


def test_source_address_comes_from_the_callers_network_setting():
    assert source_for("10.77.0.233", "10.77.0.0/24", "10.77.0.1") == "10.77.0.1"
    assert source_for("192.0.2.1", "10.77.0.0/24", "10.77.0.1") == ""
    assert source_for("not an ip", "10.77.0.0/24", "10.77.0.1") == ""
    assert source_for("10.77.0.233", "", "") == ""  # no setting: the system picks
    with pytest.raises(ProvisionError):
        Target("web1", "10.77.0.11", host_key_type="ssh-ed25519", host_key=KEY, source_address="lab0")


def test_explanations_are_plain_and_redacted():
    seen = []
    c = EventCollector({"pw": SECRET}, seen.append)
    c.handle(
        {
            "event": "runner_on_unreachable",
            "counter": 1,
            "stdout": f"x {SECRET}",
            "event_data": {"host": "web1", "task": "Ping", "res": {"msg": "Connection timed out"}},
        }
    )
    c.handle(
        {
            "event": "runner_on_failed",
            "counter": 2,
            "stdout": "",
            "event_data": {"host": "web2", "task": "Install", "res": {"msg": f"bad {SECRET}"}},
        }
    )
    result = c.result("failed", 4, 60)
    assert result.explanation == (
        f"Host web1 could not be reached over SSH: Connection timed out. Task 'Install' failed on web2: bad {MASK}."
    )
    assert seen[0]["stdout"] == f"x {MASK}" and seen[0]["status"] == "unreachable"
    assert "res" not in seen[0]
    assert c.result("timeout", None, 60).explanation.startswith("The job did not finish within 60 seconds")


def test_redact_many_secrets_sharing_a_prefix_masks_each_longest_first():
    # A batch's hashes all begin alike: each is found whole, a secret inside a longer one too.
    hashes = [f"{{ARGON2ID}}$argon2id$v=19$m=1024,t=1,p=1$salt{i:04d}$h{i:04d}" for i in range(300)]
    text = f"a {hashes[7]} b {hashes[299][:-2]} c {quote_plus(hashes[3])} d"
    out = redact(text, [*hashes, "{ARGON2ID}$argon2id"])
    assert out == f"a {MASK} b {MASK}$v=19$m=1024,t=1,p=1$salt0299$h02 c {MASK} d"
    c = EventCollector([*hashes], None)
    assert c.redact(f"x{hashes[0]}y") == f"x{MASK}y"
