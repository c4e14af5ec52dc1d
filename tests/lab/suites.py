"""Which lab hosts each test suite starts, as host numbers in the lab block (10.77.0.0/24, or
GOVHOST_LAB_NET: docs/lab.md). One pytest session runs every suite and session fixtures stay up
until it ends, so no two suites share a number. One table, so the session can check every
address before the first test (tests/conftest.py) instead of failing deep in fixtures."""

from __future__ import annotations

from provisioners import lab as L

SUITES: dict[str, dict[str, int]] = {
    "lab": {"web1": 11, "web2": 12, "ns1": 13, "tmp1": 61, "tmp2": 62},
    "dns": {"dns1": 45},  # dnsw1 .47 is a Host row sites are placed on; never started
    "jobs": {"jb1": 221, "jb2": 222},
    "sites": {"st1": 225, "st2": 226},
    "hosts": {"hp1": 231, "hp2": 232, "hpdemo": 235},  # .234 stays empty: "nothing listens"
    "provisioners": {"hp3": 233},
    "security": {"sec1": 237},
    "mail": {"mt1": 241, "mtdns": 242},
}


def suite_hosts(suite: str) -> dict[str, str]:
    """name -> address of a suite's hosts in this run's lab block."""
    return {name: L.lab_ip(number) for name, number in SUITES[suite].items()}
