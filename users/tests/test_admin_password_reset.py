"""The admin action "Send password reset email", through a real SMTP server."""

import logging
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from project.testing.mail import link_in
from users.models import User

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:users_user_changelist")
PASSWORD = "pw-Secret-123"


@pytest.fixture
def people(db):
    return {
        "alice": User.objects.create_user(username="alice", email="alice@example.com", password=PASSWORD),
        "bob": User.objects.create_user(username="bob", email="bob@example.com", password=PASSWORD, is_active=False),
        "carol": User.objects.create_user(username="carol", email="carol@example.com", password=PASSWORD),
    }


def act(admin_client, users):
    data = {"action": "send_password_reset_email", "_selected_action": [u.pk for u in users]}
    return admin_client.post(CHANGELIST, data, follow=True)


def test_the_selected_active_users_get_the_reset_message(admin_client, people, smtp_server, client):
    response = act(admin_client, people.values())
    assert response.status_code == HTTPStatus.OK
    assert "Sent a password reset email to 2 user(s); 1 skipped (inactive, or no usable password)." in response.text
    messages = smtp_server.wait_for(2)
    assert sorted(to for _, (to,) in smtp_server.envelopes) == ["alice@example.com", "carol@example.com"]
    # The same link as the reset page's: it works.
    alice_message = next(m for m in messages if m["To"] == "alice@example.com")
    first = client.get(urlsplit(link_in(alice_message)).path)
    assert first.status_code == HTTPStatus.FOUND
    done = client.post(first["Location"], {"new_password1": "new-Pass-456xy", "new_password2": "new-Pass-456xy"})
    assert done["Location"] == reverse("password_reset_complete")
    people["alice"].refresh_from_db()
    assert people["alice"].check_password("new-Pass-456xy")
    people["carol"].refresh_from_db()
    assert people["carol"].check_password(PASSWORD)  # sending a link changes nothing by itself


def test_a_mail_server_that_is_down_is_reported_and_changes_nothing(admin_client, people, mail_server_down, caplog):
    before = list(User.objects.values_list("pk", "password"))
    with caplog.at_level(logging.ERROR, logger="users.accounts"):
        response = act(admin_client, [people["alice"]])
    assert "The mail server could not be reached or refused a message; 0 of 1 sent (see the log)." in response.text
    assert list(User.objects.values_list("pk", "password")) == before
    assert any("ConnectionRefusedError" in r.getMessage() for r in caplog.records)


def test_the_action_needs_the_change_permission(client, people, smtp_server):
    viewer = User.objects.create_user(username="viewer", email="v@example.com", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == HTTPStatus.OK
    assert "send_password_reset_email" not in page.text
    response = client.post(
        CHANGELIST, {"action": "send_password_reset_email", "_selected_action": [people["alice"].pk]}
    )
    assert smtp_server.messages == []
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
