"""Per-host serialization (issue 21): two jobs never change one host at the same time, with two
worker threads free to take both. Jobs are `core.noop` (no SSH) with Host rows attached, so the
queue's own rule is what is measured: the second job of a host waits (pending, its explanation
says for which job), starts when the first ends, in submission order; another host's job runs
beside them; the sweeper does not count a waiting job as lost."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.jobs import supervise
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.jobs.conftest import wait_job

ACTOR = system_actor("cli", "test")


def host(name: str, n: int) -> int:
    with db.unit_of_work() as s:
        h = Host(name=name, address=f"10.77.0.{n}", host_key_type="ssh-ed25519", host_key="AAAA",
                 fingerprint=f"SHA256:{name}")  # fmt: skip
        s.add(h)
        s.flush()
        return h.id


def noop(host_id: int, sleep_s: float) -> int:
    job = jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=None, host_ids=[host_id], params={"sleep_s": sleep_s})
    return job.id


def test_two_jobs_of_one_host_never_overlap_and_keep_their_order(consumer, booted):
    a, b = host("sera", 201), host("serb", 202)
    first = noop(a, 3)
    wait_job(first, {JobStatus.RUNNING}, timeout=20)
    second, third, beside = noop(a, 0.5), noop(a, 0.2), noop(b, 0.5)
    waiting = wait_job(second, {JobStatus.PENDING}, timeout=20, note=f"Waiting for job {first} to finish on host sera")
    with db.unit_of_work() as s:
        held = s.scalars(select(Job.id).where(Job.status == JobStatus.PENDING, supervise.waiting_for_host())).all()
        assert s.get(Job, first, populate_existing=True).status == JobStatus.RUNNING
    assert second in held and waiting.status == JobStatus.PENDING  # the sweeper leaves it to `first`'s end
    done = [wait_job(j, timeout=30) for j in (first, second, third)]
    assert all(j.status == JobStatus.SUCCESSFUL for j in done), [(j.id, j.explanation) for j in done]
    assert done[0].finished_at <= done[1].started_at and done[1].finished_at <= done[2].started_at
    assert done[1].explanation == ""  # the wait note is cleared when it runs
    other = wait_job(beside, timeout=30)
    assert other.status == JobStatus.SUCCESSFUL and other.started_at < done[0].finished_at  # not held


def test_a_job_queued_at_once_does_not_overtake_an_older_one_of_its_host(booted):
    """First come, first served even when the newer job's message arrives first (a certificate job
    chained at the end of a site's run, queued at once, once ran before the site's DNS record job
    that had waited for the host, and the CA found no record)."""
    from panel import logs
    from panel.jobs import runner

    a = host("fifoa", 203)
    older, newer = noop(a, 0), noop(a, 0)
    assert runner.claim(newer) == runner.WAITING
    with db.unit_of_work() as s:
        assert s.get(Job, newer).explanation == runner.WAIT_TEXT.format(job=older, host="fifoa")
    token = logs.request_id.set("")  # a claim sets the job's request id on this thread's log lines
    try:
        assert runner.claim(older) == runner.CLAIMED
    finally:
        logs.request_id.reset(token)


def test_jobs_that_do_not_hold_their_host_have_a_lane_of_their_own(booted, monkeypatch):
    """A kind with holds_hosts=False (DNS's records job: one RFC 2136 update, no file of the host)
    runs beside the host's playbook job and is never waited for by one; such jobs still go one at
    a time among themselves; the end of a job wakes the oldest waiting job of each lane."""
    from panel import logs
    from panel.jobs import capabilities, queue, runner
    from panel.jobs import noop as noop_kind

    side = capabilities.Capability("test.side_noop", "", noop_kind._build, local=noop_kind._run, holds_hosts=False)
    capabilities.register(side)
    token = logs.request_id.set("")
    try:
        a = host("lanea", 204)
        site_job = noop(a, 0)
        assert runner.claim(site_job) == runner.CLAIMED
        dns_job = jobs_svc.job_submit(ACTOR, kind="test.side_noop", org_id=None, host_ids=[a], params={}).id
        assert runner.claim(dns_job) == runner.CLAIMED  # beside the running playbook job
        dns_next = jobs_svc.job_submit(ACTOR, kind="test.side_noop", org_id=None, host_ids=[a], params={}).id
        site_next = noop(a, 0)
        assert runner.claim(dns_next) == runner.WAITING
        assert runner.claim(site_next) == runner.WAITING
        with db.unit_of_work() as s:
            assert s.get(Job, dns_next).explanation == runner.WAIT_TEXT.format(job=dns_job, host="lanea")
            assert s.get(Job, site_next).explanation == runner.WAIT_TEXT.format(job=site_job, host="lanea")
        woken = []
        monkeypatch.setattr(queue, "enqueue_after_commit", lambda job_id, prio=0: woken.append(job_id))
        with db.unit_of_work() as s:
            runner.wake_hosts(s, [a])
        assert sorted(woken) == sorted([dns_next, site_next])  # not only the host's oldest pending job
        with db.unit_of_work() as s:
            s.get(Job, site_job).move_to(JobStatus.SUCCESSFUL)
        assert runner.claim(site_next) == runner.CLAIMED  # an older pending records job holds it not back
    finally:
        logs.request_id.reset(token)
        capabilities.unregister("test.side_noop")
