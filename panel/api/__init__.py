"""The REST API under /api/v1 (flask-smorest, OpenAPI 3); every error is problem+json."""

from __future__ import annotations

import http

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from panel.api import audit, orgs, tokens, users
from panel.api import bulk as bulk_api
from panel.api import hosts as hosts_api
from panel.api import jobs as jobs_api
from panel.api import notifications as notifications_api
from panel.api import quotas as quotas_api
from panel.api import requests as requests_api
from panel.api.common import PROBLEM, ProblemSchema, stated_pattern
from panel.extensions import csrf


class _Api(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        """The app factory registers one handler per status for both surfaces (see panel.app)."""

    def _register_responses(self):
        """Error responses documented as they are sent: application/problem+json (flask-smorest
        would say application/json); every operation refers to DEFAULT_ERROR as its `default`."""
        self.spec.components.schema("Problem", schema=ProblemSchema)
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = ProblemSchema
                content_type = PROBLEM
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as problem details (see the key and status)", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


BLUEPRINTS = (
    users.blp,
    orgs.blp,
    tokens.blp,
    audit.blp,
    users.me_blp,
    hosts_api.blp,
    requests_api.blp,
    requests_api.policies_blp,
    quotas_api.blp,
    notifications_api.blp,
    jobs_api.blp,
    bulk_api.blp,
)


def init_app(app: Flask, blueprints=()) -> None:
    """Register the core's operations and `blueprints` (the capabilities', handed in by the app factory)."""
    api = _Api(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (gh_...)"}
                }
            }
        },
    )
    api.ma_plugin.converter.add_attribute_function(stated_pattern)
    for blp in (*BLUEPRINTS, *blueprints):
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
        csrf.exempt(blp)  # token-only: the API never reads the session cookie, so there is no CSRF
    requests_api.document_payloads(api.spec)
    # `/api/v1/sites` and `/api/v1/sites/` are both answered, not one with a 308 to the other: API
    # clients and load tools follow (or count) redirects silently, each a round trip for nothing.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            rule.strict_slashes = False
