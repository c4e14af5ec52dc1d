"""Pure rules of the floor: names, power arithmetic, free runs of units, address pools."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Iterator

from panel.errors import Invalid

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,99}$")
MAX_RACK_U = 60
SPEEDS = (100, 1000, 10000, 25000, 40000, 100000)  # Mb/s a port may have
VOLTAGES = (120, 208, 230, 240, 400, 415)
MAX_ADDRESSES_PER_REQUEST = 256


def clean_name(value, field: str = "name") -> str:
    """Floor object names (sites, rooms, racks, feeds, switches, ports): letters, digits, . _ / - and
    spaces; they appear in CSV exports and on rack labels, never in a shell or a template."""
    text = str(value or "").strip()
    if not NAME.match(text):
        raise Invalid(
            "colocation.name_invalid",
            "Use 1 to 100 letters, digits, spaces, dots, dashes, slashes or underscores.",
            field=field,
        )
    return text


def clean_int(value, field: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        err = Invalid(
            "colocation.number_invalid",
            "{field} must be a whole number from {low} to {high}.",
            field=field,
            low=low,
            high=high,
        )
        err.params["field"] = field  # the message names the field too (`field=` alone only marks it)
        raise err
    return value


def feed_capacity_w(phase: str, voltage: int, amperage: int, max_utilisation: int) -> int:
    """What a feed may deliver: V x A (x sqrt(3) for three-phase), derated to its maximum utilisation."""
    va = voltage * amperage * (math.sqrt(3) if phase == "three" else 1)
    return int(va * max_utilisation / 100)


def free_runs(height: int, used: Iterable[int]) -> list[tuple[int, int]]:
    """(first U, length) of every run of free units, bottom up."""
    taken = set(used)
    runs, start = [], None
    for u in range(1, height + 2):
        free = u <= height and u not in taken
        if free and start is None:
            start = u
        elif not free and start is not None:
            runs.append((start, u - start))
            start = None
    return runs


def first_fit(height: int, used: Iterable[int], count: int) -> int | None:
    """The lowest U where `count` contiguous free units start, or None."""
    for start, length in free_runs(height, used):
        if length >= count:
            return start
    return None


def mask_of(units: Iterable[int]) -> int:
    """The occupied units as a bit mask (bit u-1 for unit u): a rack's summary keeps it."""
    mask = 0
    for u in units:
        mask |= 1 << (u - 1)
    return mask


def units_of(mask: int) -> list[int]:
    return [i + 1 for i in range(mask.bit_length()) if mask >> i & 1]


def largest_run(height: int, used: Iterable[int]) -> int:
    return max((n for _, n in free_runs(height, used)), default=0)


def clean_prefix(value, field: str = "cidr") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(str(value or "").strip(), strict=True)
    except ValueError:
        raise Invalid(
            "colocation.prefix_invalid", "Give a network in CIDR form, such as 10.85.0.0/26.", field=field
        ) from None
    if (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126):
        raise Invalid("colocation.prefix_too_small", "The network is too small to hand out addresses.", field=field)
    return net


def usable(net) -> int:
    """Addresses a prefix can hand out: all but the network, the gateway (first host) and broadcast."""
    reserved = 3 if net.version == 4 else 2  # IPv6: subnet-router anycast and the gateway
    return max(0, net.num_addresses - reserved)


def candidates(net) -> Iterator[str]:
    """The prefix's assignable addresses, lowest first (the first host is the gateway)."""
    first = int(net.network_address) + 2
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    for n in range(first, last + 1):
        yield str(cls(n))
