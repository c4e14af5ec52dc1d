"""The error base: a message parameter called `status` stays a parameter, never the HTTP status."""

from panel.errors import Conflict, Invalid


def test_status_param_is_a_message_param():
    e = Conflict("job.not_active", "Job {id} has already finished ({status}).", id=7, status="successful")
    assert e.status == 409
    assert e.text() == "Job 7 has already finished (successful)."
    assert e.to_dict()["params"] == {"id": 7, "status": "successful"}


def test_explicit_http_status_still_works():
    assert Invalid("x.y", "bad", status=400).status == 400
