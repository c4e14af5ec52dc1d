"""The address book: name -> address, kept in the run dir so a name keeps its address."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .common import FIRST_HOST_OCTET, NAME_RE, NETNS_PREFIX, SUBNET, LabError, LabPaths, check_ip, check_name, lab_paths
from .discovery import Host, find_init, netns_list


@contextmanager
def book_locked(paths: LabPaths) -> Iterator[dict[str, str]]:
    """The name -> address map, locked for read-modify-write across processes."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with open(paths.run / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        book = json.loads(paths.state.read_text()) if paths.state.exists() else {}
        before = dict(book)
        yield book
        if book != before:
            tmp = paths.state.with_suffix(".tmp")
            tmp.write_text(json.dumps(book, indent=1, sort_keys=True))
            tmp.replace(paths.state)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`name` or `name=<lab address>` -> (name, ip or None), both validated."""
    name, _, ip = spec.partition("=")
    return check_name(name), (check_ip(ip) if ip else None)


def default_names(count: int, prefix: str = "web") -> list[str]:
    return [f"{prefix}{i}" for i in range(1, count + 1)]


def assign(specs: Iterable[str], paths: LabPaths | None = None) -> list[Host]:
    """Resolve specs to hosts. A name keeps the address it had; new names get the lowest free
    address from .11 up; an explicit address moves off a stopped host, never a running one."""
    paths = paths or lab_paths()
    parsed = [parse_spec(s) for s in specs]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise LabError(f"duplicate host names in {names}")
    with book_locked(paths) as book:
        for name, ip in parsed:
            if ip is None:
                continue
            for other, other_ip in list(book.items()):
                if other_ip == ip and other != name:
                    if other not in names and find_init(other):
                        raise LabError(f"address {ip} is in use by running host {other}")
                    del book[other]
            book[name] = ip
        for name, ip in parsed:
            if ip is None and name not in book:
                book[name] = _free_ip(book)
        return [Host(n, book[n]) for n in names]


def address_holders(wanted: dict[str, str], paths: LabPaths | None = None) -> list[tuple[str, str, str]]:
    """(address, wanted name, holder) for every wanted address a running host of another name holds:
    starting the wanted host would be refused ("in use by running host")."""
    paths = paths or lab_paths()
    if not paths.state.exists():
        return []
    with book_locked(paths) as book:
        current = dict(book)
    return [
        (ip, name, other)
        for name, ip in wanted.items()
        for other, other_ip in current.items()
        if other_ip == ip and other != name and find_init(other)
    ]


def _free_ip(book: dict[str, str]) -> str:
    used = set(book.values())
    for octet in range(FIRST_HOST_OCTET, SUBNET.broadcast_address.packed[-1]):
        ip = str(SUBNET.network_address + octet)
        if ip not in used:
            return ip
    raise LabError("no free address left in the lab network")


def known_hosts(paths: LabPaths | None = None) -> list[Host]:
    """Every host the lab knows: address book plus anything left on the machine (netns, dirs)."""
    paths = paths or lab_paths()
    with book_locked(paths) as book:
        names = set(book)
    # Only this block's netns (another block's names carry its network, which no host name matches).
    names |= {n for ns in netns_list() if ns.startswith(NETNS_PREFIX) and NAME_RE.match(n := ns[len(NETNS_PREFIX) :])}
    if paths.hosts.is_dir():
        names |= {d.name for d in paths.hosts.iterdir() if d.is_dir()}
    return [Host(n, book.get(n, "?"), find_init(n)) for n in sorted(names)]
