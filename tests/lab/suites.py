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
    "databases": {"dbt1": 245, "dbw1": 244},  # a DB host and a web host (the allowed client)
    "newcomer": {"ncdemo": 246},  # the quick start's demo host, started by ./scripts/demo in the test
    # containment web host; fail2ban host and its attacker; a mail and a web host for the mail and
    # WordPress jails, and their two attackers
    "soc": {"socw1": 238, "socf1": 239, "socx1": 240, "socm1": 243, "socp1": 248, "socx2": 249, "socx3": 236},
    # nginx in front of the panel, a managed host, and the network of a worker on "another machine"
    "topology": {"tpproxy": 211, "tphost": 212, "tpworker": 213},
    "colocation": {"colo1": 250},  # a ministry's arriving server, enrolled at hand-over
    "cms": {"wpw1": 251, "wpdb1": 252},  # WordPress: a web host (BIND for Pebble too) and a DB host
    # the network namespace the NOT-Windows recording SSH endpoint listens in (docs/windows.md, rung 2)
    "windows": {"wr1": 216},
    "moves": {"mv1": 197, "mv2": 198, "mvdns": 199},  # a site moved from mv1 to mv2; BIND for its zone
    "mail_moves": {"mm1": 193, "mm2": 194, "mmdns": 195},  # a mail domain moved from mm1 to mm2; its BIND
    # govhost's BIND for the gated real-Windows smoke test (rung 4; deselected unless GOVHOST_WINDOWS_HOST)
    "windows_real": {"wreal1": 219},
}


def suite_hosts(suite: str) -> dict[str, str]:
    """name -> address of a suite's hosts in this run's lab block."""
    return {name: L.lab_ip(number) for name, number in SUITES[suite].items()}
