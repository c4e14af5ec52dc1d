"""The shipper: reads the audit chain after each destination's cursor and sends it, batch by batch.

It runs in its own process (`govhost soc ship`, beside the worker), one thread per destination, so a
dead SIEM only backs up its own cursor: the panel's requests never wait on it (they only append to
the chain, which they do anyway). Order and completeness come from the chain: each batch is the next
`batch_size` entries after `delivered_seq`, and the cursor moves only after the transport
acknowledged the batch, so events arrive in order, at least once; a receiver drops repeats by
`event.sequence`. A failing destination is retried with capped exponential backoff.

Syslog has no acknowledgement: a receiver that read a batch and closed the connection (our sign of
delivery) may still lose it if it was stopping and never wrote it down (rsyslog stopped mid-batch
does). So a syslog destination that fails after a success first moves its cursor back to before the
batches acknowledged in the last `REPLAY_S` seconds; they are sent again once it is back (repeats,
dropped by sequence, instead of a gap).

No database transaction is open while a transport sends (the batch is read and committed first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import select

from panel import db
from panel.capabilities.soc.catalogue import event_of
from panel.capabilities.soc.models import SocDestination
from panel.capabilities.soc.transports import SENDERS, SendError
from panel.models.audit import COLUMNS, AuditEntry, AuditHead
from panel.models.tenants import Organization

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often an idle destination looks at the chain head (the event wakes it sooner)
BACKOFF_MAX_S = 10.0
REFRESH_S = 5.0  # how often the set of destinations is re-read
# Syslog batches acknowledged this recently are sent again when the destination then fails: the
# receiver may have been stopping while it read them (no acknowledgement in the protocol).
REPLAY_S = 5.0
UNACKNOWLEDGED = frozenset({"syslog_tls", "syslog_tcp"})

_new_entries = threading.Condition()


def wake() -> None:
    """Called after a commit that appended to the chain (in this process): ship now."""
    with _new_entries:
        _new_entries.notify_all()


@dataclass(frozen=True)
class Target:
    """A destination's settings as read for one batch (no ORM object crosses the network call)."""

    id: int
    name: str
    transport: str
    target: str
    ca_file: str
    client_cert: str
    client_key: str
    server_name: str
    auth_header: str
    batch_size: int
    delivered_seq: int


def _target(d: SocDestination) -> Target:
    return Target(
        d.id,
        d.name,
        d.transport.value,
        d.target,
        d.ca_file,
        d.client_cert,
        d.client_key,
        d.server_name,
        d.auth_header,
        d.batch_size,
        d.delivered_seq,
    )


def next_batch(dest_id: int) -> tuple[Target | None, list[dict]]:
    """The destination and its next events (rendered), read in one short transaction."""
    with db.unit_of_work() as s:
        d = s.get(SocDestination, dest_id)
        if d is None or not d.enabled:
            return None, []
        target = _target(d)
        cols = [getattr(AuditEntry, c) for c in COLUMNS]
        rows = s.execute(
            select(*cols).where(AuditEntry.seq > target.delivered_seq).order_by(AuditEntry.seq).limit(target.batch_size)
        ).all()
        org_ids = {r.org_id for r in rows if r.org_id is not None}
        names = dict(s.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all())
    return target, [event_of(r, names) for r in rows]


def ship_once(dest_id: int, acked: deque | None = None) -> int:
    """Send the next batch; returns how many events it held (0: nothing to send, -1: the destination
    is gone or disabled). SendError on failure. `acked` (the shipper's, per destination) gets
    (when, cursor before the batch) of each syslog batch sent, for `record_failure` to rewind."""
    target, events = next_batch(dest_id)
    if target is None:
        return -1
    if not events:
        return 0
    t0 = time.monotonic()
    try:
        SENDERS[target.transport](target, events)
    except SendError as e:
        record_failure(dest_id, str(e), acked)
        raise
    except Exception as e:  # a bad CA path, an unreadable key: the destination's problem, shown as such
        record_failure(dest_id, f"{e.__class__.__name__}: {e}", acked)
        raise SendError(str(e)) from e
    last = events[-1]["event"]["sequence"]
    if acked is not None and target.transport in UNACKNOWLEDGED:
        now = time.monotonic()
        acked.append((now, target.delivered_seq))
        while acked and acked[0][0] < now - REPLAY_S:
            acked.popleft()
    with db.unit_of_work() as s:
        d = s.scalars(select(SocDestination).where(SocDestination.id == dest_id).with_for_update()).first()
        if d is not None and d.delivered_seq < last:
            d.delivered_seq = last
            d.sent_total += len(events)
            d.last_ok_at, d.failing_since, d.last_error = db.utcnow(), None, ""
    log.debug("soc %s: %d events up to %d in %.3f s", target.name, len(events), last, time.monotonic() - t0)
    return len(events)


def _replay_from(acked: deque | None) -> int | None:
    """The cursor to move back to when a destination fails after a success: before the syslog
    batches acknowledged in the last REPLAY_S seconds, so they are sent again (None: nothing recent)."""
    if not acked:
        return None
    recent = [before for when, before in acked if when >= time.monotonic() - REPLAY_S]
    acked.clear()
    return min(recent) if recent else None


def record_failure(dest_id: int, error: str, acked: deque | None = None) -> None:
    """Count the failure and, in the same transaction, move the cursor back over the batches that
    may have been lost (one commit: whoever sees the destination failing sees the cursor moved)."""
    replay = _replay_from(acked)
    with db.unit_of_work() as s:
        d = s.scalars(select(SocDestination).where(SocDestination.id == dest_id).with_for_update()).first()
        if d is None:
            return
        d.attempts_failed += 1
        d.last_error = error[:500]
        d.failing_since = d.failing_since or db.utcnow()
        if replay is not None and d.delivered_seq > replay:
            d.delivered_seq = replay
            log.info("soc destination %s failed just after a delivery: sending again from %d", dest_id, replay + 1)


def drain(dest_id: int) -> int:
    """Ship until the destination has everything (or fails: SendError). Returns events sent."""
    total = 0
    while (n := ship_once(dest_id)) > 0:
        total += n
    return total


def head_seq() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0


class Shipper:
    """One thread per enabled destination; `stop()` ends them after their current batch."""

    def __init__(self, poll_s: float = POLL_S, backoff_max_s: float = BACKOFF_MAX_S) -> None:
        self.poll_s, self.backoff_max_s = poll_s, backoff_max_s
        self._stop = threading.Event()
        self._threads: dict[int, threading.Thread] = {}

    def run(self) -> None:
        """Supervise until stopped: start a thread for each destination that appears."""
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(REFRESH_S)
        for t in self._threads.values():
            t.join(timeout=10)

    def refresh(self) -> None:
        with db.unit_of_work() as s:
            ids = s.scalars(select(SocDestination.id).where(SocDestination.enabled.is_(True))).all()
        db.remove()
        for dest_id in ids:
            t = self._threads.get(dest_id)
            if t is None or not t.is_alive():
                t = self._threads[dest_id] = threading.Thread(
                    target=self._loop, args=(dest_id,), name=f"soc-ship-{dest_id}", daemon=True
                )
                t.start()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="soc-shipper", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()
        wake()

    def _loop(self, dest_id: int) -> None:
        failures, acked = 0, deque()
        try:
            while not self._stop.is_set():
                try:
                    sent = ship_once(dest_id, acked)
                    failures = 0
                except SendError:  # counted, and the unconfirmed batches rewound, by ship_once
                    failures += 1
                    self._stop.wait(min(self.backoff_max_s, 0.25 * 2**failures))
                    continue
                except Exception:  # the database went away for a moment: retry, never die silently
                    log.exception("soc shipper for destination %s", dest_id)
                    db.remove()
                    self._stop.wait(1.0)
                    continue
                if sent < 0:
                    return
                if sent == 0:
                    with _new_entries:
                        _new_entries.wait(self.poll_s)
        finally:
            db.remove()
