"""Validation and permissions of the host services: no network needed (input is refused first)."""

from __future__ import annotations

import pytest

from panel.errors import Forbidden, Invalid, NotFound
from panel.services import hosts as svc
from provisioners import lab as L

HOSTILE = ["", "; id", "{{ 7*7 }}", "../x", "a\x00b", "a\nb", "x" * 300, "ម៉ាស៊ីន", "Web1", "1web", "web_1", "-web"]


@pytest.mark.parametrize("name", HOSTILE)
def test_bad_names_refused(name):
    with pytest.raises(Invalid) as e:
        svc.validate_name(name)
    assert e.value.key == "host.name_invalid" and e.value.field == "name"


@pytest.mark.parametrize("name", ["a", "web1", "mail-02", "a" + "b" * 62])
def test_good_names(name):
    assert svc.validate_name(name) == name


@pytest.mark.parametrize(
    "address,key",
    [
        ("", "host.address_invalid"),
        ("10.77.0", "host.address_invalid"),
        ("256.1.1.1", "host.address_invalid"),
        ("10.77.0.011", "host.address_invalid"),
        ("; id", "host.address_invalid"),
        ("fe80::1%eth0", "host.address_invalid"),
        ("10.77.0.1\n", "host.address_reserved"),
        ("example.org", "host.address_invalid"),
        ("0.0.0.0", "host.address_unusable"),
        ("127.0.0.1", "host.address_unusable"),
        ("::1", "host.address_unusable"),
        ("224.0.0.1", "host.address_unusable"),
        ("169.254.1.1", "host.address_unusable"),
        ("10.77.0.0", "host.address_reserved"),
        ("10.77.0.1", "host.address_reserved"),
        ("10.77.0.255", "host.address_reserved"),
    ],
)
def test_bad_addresses_refused(address, key):
    with pytest.raises(Invalid) as e:
        svc.validate_address(address, network="10.77.0.0/24", source="10.77.0.1")
    assert e.value.key == key and e.value.field == "address"


@pytest.mark.parametrize(
    "address,normal",
    [
        ("10.77.0.2", "10.77.0.2"),
        ("10.77.0.254", "10.77.0.254"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8:0::1", "2001:db8::1"),
    ],
)
def test_good_addresses_normalised(address, normal):
    assert svc.validate_address(address) == normal


@pytest.mark.parametrize("port", [0, -1, 65536, "22x", "", None, True, 2.5, "1e3"])
def test_bad_ports_refused(port):
    with pytest.raises(Invalid) as e:
        svc.validate_port(port)
    assert e.value.key == "host.port_invalid" and e.value.field == "port"


def test_ports_and_roles_and_capacity():
    assert svc.validate_port(" 2222 ") == 2222 and svc.validate_port(65535) == 65535
    assert svc.validate_roles("web, mail") == {"web", "mail"}
    assert svc.validate_roles(["dns"]) == {"dns"}
    for bad in (["web", "; id"], "web,ftp", ["{{ 7*7 }}"], ["backup"]):  # backup: no enabled capability declares it
        with pytest.raises(Invalid) as e:
            svc.validate_roles(bad)
        assert e.value.key == "host.role_invalid"
    with pytest.raises(Invalid) as e:
        svc.validate_capacity("sites", -1)
    assert e.value.field == "capacities" and e.value.params["what"] == "sites"
    assert svc.validate_capacities("sites=5, mailboxes=7") == {"sites": 5, "mailboxes": 7}
    for bad, key in (
        ({"ftp": 1}, "host.capacity_unknown"),
        ("sites", "host.capacity_format"),
        ({"sites": -1}, "host.capacity_invalid"),
    ):
        with pytest.raises(Invalid) as e:
            svc.validate_capacities(bad)
        assert e.value.key == key and e.value.field == "capacities"
    with pytest.raises(Invalid):
        svc.validate_ssh_user("root; id")
    with pytest.raises(Invalid):
        svc.validate_os("bsd")


def test_register_validates_before_touching_the_network(booted, make, operator):
    a = make.actor_of(operator, "cli")
    with pytest.raises(Invalid) as e:
        svc.host_register(a, name="ok1", address=L.GATEWAY, roles=["web"])
    assert e.value.key == "host.address_reserved"  # the test settings' network: the lab block in use
    with pytest.raises(Invalid) as e:
        svc.host_register(a, name="ok1", address=L.lab_ip(20), port=0)
    assert e.value.key == "host.port_invalid"


def test_ministry_and_auditor_permissions(booted, make, webmaster, auditor):
    wm = make.actor_of(webmaster)
    with pytest.raises(Forbidden):
        svc.host_list(wm)
    with pytest.raises(NotFound):
        svc.host_get(wm, 1)
    with pytest.raises(NotFound):
        svc.host_find(wm, "web1")
    with pytest.raises(Forbidden):
        svc.host_register(wm, name="web9", address="10.77.0.20")
    aud = make.actor_of(auditor)
    assert svc.host_list(aud).total == 0
    with pytest.raises(Forbidden):
        svc.host_register(aud, name="web9", address="10.77.0.20")
    with pytest.raises(Invalid) as e:
        svc.host_list(aud, role="ftp")
    assert e.value.key == "host.role_invalid"
