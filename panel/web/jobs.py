"""Job pages: the list, one job with live progress (polls progress.json every second through
static/js/jobs.js; without scripts the page shows what was there when loaded and a reload link),
and cancel/retry buttons."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from panel.errors import PanelError
from panel.models.jobs import JobStatus
from panel.services import jobs as jobs_svc
from panel.web.common import actor, error_text, explanation_class, job_explanation, nav, page_args, when
from panel.web.forms.jobs import JobActionForm

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

nav("jobs.index", _l("Jobs"))

STATUSES = [s.value for s in JobStatus]


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    status = request.args.get("status") or None
    if status not in (None, *STATUSES):
        flash(_("Unknown job status; showing all jobs."), "error")
        status = None
    a = actor()
    result = jobs_svc.job_list(a, page=page, per_page=per_page, status=status)
    rows = [jobs_svc.job_public(a, j) for j in result.items]
    return render_template("jobs/list.html", page=result, rows=rows, statuses=STATUSES, status=status)


@bp.get("/<int:job_id>")
@login_required
def detail(job_id: int):
    a = actor()
    progress = jobs_svc.job_events(a, job_id, limit=1000)
    return render_template(
        "jobs/detail.html",
        job=progress.job,
        events=progress.events,
        last_counter=progress.last_counter,
        form=JobActionForm(),
        is_staff=a.is_staff,
        can_manage=a.can_write,
    )


@bp.get("/<int:job_id>/progress.json")
@login_required
def progress(job_id: int):
    try:
        after = max(0, int(request.args.get("after", 0)))
    except ValueError:
        after = 0
    p = jobs_svc.job_events(actor(), job_id, after_counter=after)
    events = [{**e, "step": _(e["step"])} for e in p.events]
    job = {
        **p.job,
        "started_at_text": when(p.job["started_at"]),
        "finished_at_text": when(p.job["finished_at"]),
        "explanation": job_explanation(p.job["explanation"], p.job["kind"]),
        "explanation_class": explanation_class(p.job["explanation"], p.job["kind"]),
    }
    return jsonify(job=job, events=events, last_counter=p.last_counter)


def _act(job_id: int, fn, done: str):
    form = JobActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("jobs.detail", job_id=job_id))
    try:
        job = fn(actor(), job_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("jobs.detail", job_id=job_id))
    flash(done, "success")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.post("/<int:job_id>/cancel")
@login_required
def cancel(job_id: int):
    return _act(job_id, jobs_svc.job_cancel, _("Cancel requested."))


@bp.post("/<int:job_id>/retry")
@login_required
def retry(job_id: int):
    return _act(job_id, jobs_svc.job_retry, _("The job was queued again."))
