import logging
from http import HTTPStatus

import pytest

from users.models import User


@pytest.mark.django_db
def test_one_line_per_request_with_its_id_and_no_password(client, caplog):
    User.objects.create_user(username="carol", email="carol@example.com", password="s3cret-Password-123")
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/admin/login/?token=abc123secret", {"username": "carol", "password": "wrong-Hunter2-pass"}
        )
    assert response.status_code == HTTPStatus.OK
    request_id = response["X-Request-ID"]
    lines = [r for r in caplog.records if r.name == "project.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line.request_id == request_id
    assert line.getMessage().startswith("POST /admin/login/ 200 ")
    everything = "\n".join(r.getMessage() for r in caplog.records) + repr([r.__dict__ for r in caplog.records])
    for secret in ("wrong-Hunter2-pass", "s3cret-Password-123", "abc123secret", "csrftoken"):
        assert secret not in everything


@pytest.mark.django_db
def test_a_plain_incoming_request_id_is_kept_and_a_strange_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"})
    assert kept["X-Request-ID"] == "edge-1234abcd"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nforged log line"})
    assert len(replaced["X-Request-ID"]) == 32
    assert "\n" not in replaced["X-Request-ID"]


def test_log_lines_outside_requests_carry_a_dash(caplog):
    from project.middleware import RequestIdFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert RequestIdFilter().filter(record) is True
    assert record.request_id == "-"
