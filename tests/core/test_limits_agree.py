"""A limit the service enforces is the limit the API schema publishes and the web form checks
(issue 14: custom nginx was 8,000 in the form and the API but 4,000 in the service; a mailbox
password 128 in the form and the service but 1,000 in the API)."""

from __future__ import annotations

import pytest
from wtforms.validators import Length

from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail.forms import PasswordForm
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.forms import CustomNginxForm
from panel.errors import Invalid


def form_max(form_cls, field: str) -> int:
    (length,) = [v for v in getattr(form_cls, field).kwargs["validators"] if isinstance(v, Length)]
    return length.max


def api_max(app, schema: str, field: str) -> int:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    name = next(n for n in schemas if n.removesuffix("Schema") == schema.removesuffix("Schema"))
    return schemas[name]["properties"][field]["maxLength"]


def test_custom_nginx_limit_is_one_number(app):
    limit = sites_svc.MAX_CUSTOM_NGINX
    assert form_max(CustomNginxForm, "custom_nginx") == limit
    assert api_max(app, "CustomNginx", "custom_nginx") == limit
    assert sites_svc.clean_custom_nginx("x" * limit) == "x" * limit
    with pytest.raises(Invalid):
        sites_svc.clean_custom_nginx("x" * (limit + 1))


@pytest.mark.parametrize("schema", ["MailPasswordIn", "MailNewMailbox"])
def test_mailbox_password_limit_is_one_number(app, schema):
    limit = pw.MAX_LENGTH
    assert form_max(PasswordForm, "password") == limit
    assert api_max(app, schema, "password") == limit
    long_ok = ("Aa1!bcDEf9" * limit)[:limit]
    assert pw.password_check(long_ok) == long_ok
    with pytest.raises(Invalid) as e:
        pw.password_check(long_ok + "x")
    assert e.value.key == "mail.password_long"
