"""provisioners.dns skips dnspython's tokenizer for A data already in canonical form (the bulk of a
zone): the fast path must give exactly what from_text (and to_text) give, and leave every other
spelling to dnspython, which accepts or refuses it as before."""

from __future__ import annotations

import random

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import pytest

from provisioners import dns as D

CANONICAL = ["0.0.0.0", "10.0.0.7", "192.0.2.255", "255.255.255.255", "1.22.199.250", "100.64.0.1"]
OTHER = ["010.0.0.7", "10.0.0.07", "256.1.1.1", "1.2.3", "1.2.3.4.5", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "", "1..2.3"]


def slow(data: str):
    return dns.rdata.from_text(dns.rdataclass.IN, "A", data, origin=dns.name.root, relativize=False)


def _random_addresses(n: int) -> list[str]:
    rng = random.Random(22)
    return [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(n)]


@pytest.mark.parametrize("data", CANONICAL + _random_addresses(200))
def test_canonical_a_data_is_taken_as_dnspython_would(data):
    assert D._CANONICAL_A.fullmatch(data)
    assert D._rd("A", data) == slow(data)
    assert D.canonical("A", data) == slow(data).to_text() == data


@pytest.mark.parametrize("data", OTHER)
def test_any_other_spelling_goes_to_dnspython(data):
    assert not D._CANONICAL_A.fullmatch(data)
    try:
        expected = slow(data).to_text()
    except dns.exception.DNSException:
        with pytest.raises(ValueError):
            D.canonical("A", data)
    else:
        assert D.canonical("A", data) == expected
