"""/healthz (alive), /readyz (database, schema at head, queue) and /metrics (Prometheus text,
data-center staff API token): for load balancers, systemd and Prometheus. No login page, no
session, no CSRF: the probes are GETs that change nothing."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from panel.errors import Unauthorized
from panel.extensions import csrf
from panel.services import health
from panel.services import tokens as tokens_svc

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
def healthz():
    return jsonify(health.alive())


@bp.get("/readyz")
def readyz():
    checks = health.ready()
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "unavailable", "checks": {c.name: c.detail or "ok" for c in checks}}
    resp = jsonify(body)
    resp.status_code = 200 if ok else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/metrics")
def metrics():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("auth.token_required", "Send an API token: Authorization: Bearer <token>.")
    actor = tokens_svc.token_authenticate(
        token.strip(), client_addr=(request.remote_addr or "")[:64], request_id=g.get("request_id")
    )
    return Response(health.metrics_text(actor), mimetype="text/plain", content_type=health.CONTENT_TYPE)
