"""The toy's job kind: runs in the worker (no host), and marks the thing built when it succeeds."""

from __future__ import annotations

from panel.jobs.capabilities import Capability, register
from provisioners.base import Result
from tests.cross.toy.models import ToyThing


def _build(job, session):
    return {}, {}, []


def _run(params: dict, cancelled, on_event) -> Result:
    on_event({"counter": 1, "event": "runner_on_ok", "task": "Build the toy", "host": "", "status": "ok", "stdout": ""})
    return Result("successful", 0, explanation="")


def _built(job, session, result) -> None:
    session.get(ToyThing, job.params["thing_id"]).status = "built"


register(Capability("toy.thing_build", "", _build, on_success=_built, local=_run))
