"""/api/v1/jobs: list, one job, its events (poll with ?after=N), cancel, retry."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import WindowArgs, actor, operation, window_list, window_schema
from panel.models.jobs import JobStatus
from panel.services import jobs as jobs_svc

blp = Blueprint("api_jobs", __name__, url_prefix="/jobs", description="Background jobs and their progress")


class JobListArgs(WindowArgs):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in JobStatus]))


class EventArgs(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31))


class JobSchema(Schema):
    """What the caller may see (job_public): staff also get params, traceback and worker."""

    id = fields.Integer()
    kind = fields.String()
    description = fields.String(metadata={"description": "what the job does, in plain English"})
    status = fields.String()
    org_id = fields.Integer(allow_none=True)
    request_id = fields.Integer(allow_none=True)
    hosts = fields.List(fields.String())
    created_by = fields.String()
    attempt = fields.Integer()
    retry_of_id = fields.Integer(allow_none=True)
    explanation = fields.String()
    rc = fields.Integer(allow_none=True)
    stats = fields.Dict()
    cancel_requested = fields.Boolean()
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    finished = fields.Boolean()
    params = fields.Dict()
    traceback = fields.String()
    worker = fields.String()
    data = fields.Dict()


class EventSchema(Schema):
    counter = fields.Integer()
    event = fields.String()
    host = fields.String()
    task = fields.String(metadata={"description": "the playbook's task or play name (operators' words)"})
    step = fields.String(metadata={"description": "the step in plain English (the web shows it translated)"})
    status = fields.String(allow_none=True)
    created_at = fields.String()
    stdout = fields.String()


class ProgressSchema(Schema):
    job = fields.Nested(JobSchema)
    events = fields.List(fields.Nested(EventSchema))
    last_counter = fields.Integer()


@operation(blp, "")
@blp.arguments(JobListArgs(), location="query")
@blp.response(200, window_schema(JobSchema))
def job_list(args):
    """Jobs the caller may see, newest first, 50 a page (follow `next`)."""
    return window_list(jobs_svc.job_window, args, list)  # items are job_public dicts already


@operation(blp, "/<int:job_id>")
@blp.response(200, JobSchema)
def job_get(job_id: int):
    a = actor()
    return jobs_svc.job_public(a, jobs_svc.job_get(a, job_id))


@operation(blp, "/<int:job_id>/events")
@blp.arguments(EventArgs, location="query")
@blp.response(200, ProgressSchema)
def job_events(args, job_id: int):
    """The job and its events after counter `after`; poll with the returned last_counter."""
    p = jobs_svc.job_events(actor(), job_id, after_counter=args["after"])
    return {"job": p.job, "events": p.events, "last_counter": p.last_counter}


@operation(blp, "/<int:job_id>/cancel", "POST")
@blp.response(202, JobSchema)
def job_cancel(job_id: int):
    a = actor()
    return jobs_svc.job_public(a, jobs_svc.job_cancel(a, job_id))


@operation(blp, "/<int:job_id>/retry", "POST")
@blp.response(201, JobSchema)
def job_retry(job_id: int):
    a = actor()
    return jobs_svc.job_public(a, jobs_svc.job_retry(a, job_id))
