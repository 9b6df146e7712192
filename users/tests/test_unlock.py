"""``manage.py unlock <username|address>`` lifts a lockout early, and only the one asked for."""

from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from users.models import LoginFailure, User
from users.tests.test_lockout import PASSWORD, admin_login


def counts() -> dict[str, int]:
    return dict(LoginFailure.objects.values_list("key", "count"))


def unlock(*args: str) -> str:
    out = StringIO()
    call_command("unlock", *args, stdout=out)
    return out.getvalue()


def test_unlocking_a_user_then_an_address(client, db):
    User.objects.create_user(username="alice", email="alice@example.com", password=PASSWORD, is_staff=True)
    User.objects.create_user(username="bob", email="bob@example.com", password=PASSWORD, is_staff=True)
    for _ in range(5):
        admin_login(client, "alice", "wrong", address="10.0.0.1")
    assert counts() == {"user:alice": 5, "addr:10.0.0.1": 5}
    assert admin_login(client, "alice", PASSWORD, address="10.0.0.2").status_code == HTTPStatus.TOO_MANY_REQUESTS

    # The username in any case: the lockout's budget is case-insensitive.
    assert unlock(" ALICE ") == "Unlocked user 'ALICE': 5 failed log-in(s) cleared.\n"
    assert counts() == {"addr:10.0.0.1": 5}
    assert admin_login(client, "alice", PASSWORD, address="10.0.0.2").status_code == HTTPStatus.FOUND
    client.logout()
    # The address that guessed is still locked, for every user.
    assert admin_login(client, "bob", PASSWORD, address="10.0.0.1").status_code == HTTPStatus.TOO_MANY_REQUESTS

    assert unlock("10.0.0.1") == "Unlocked address 10.0.0.1: 5 failed log-in(s) cleared.\n"
    # Left: the other address's attempt, given back by its successful log-in.
    assert counts() == {"addr:10.0.0.2": 0}
    assert admin_login(client, "bob", PASSWORD, address="10.0.0.1").status_code == HTTPStatus.FOUND


def test_an_ipv6_address_in_any_spelling(db):
    expires = timezone.now() + timedelta(minutes=15)
    LoginFailure.objects.create(key="addr:2001:db8::1", count=5, expires_at=expires)
    LoginFailure.objects.create(key="addr:2001:db8::2", count=5, expires_at=expires)
    assert (
        unlock("2001:0db8:0000:0000:0000:0000:0000:0001")
        == "Unlocked address 2001:db8::1: 5 failed log-in(s) cleared.\n"
    )
    assert counts() == {"addr:2001:db8::2": 5}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "Give a username or a client address to unlock."),
        ("   ", "Give a username or a client address to unlock."),
        ("nobody", "No failed log-ins are counted for user 'nobody'; nothing to unlock."),
        ("10.0.0.9", "No failed log-ins are counted for address 10.0.0.9; nothing to unlock."),
    ],
)
def test_bad_or_unknown_targets_are_a_command_error_and_change_nothing(db, target, message):
    expires = timezone.now() + timedelta(minutes=15)
    LoginFailure.objects.create(key="user:alice", count=3, expires_at=expires)
    LoginFailure.objects.create(key="addr:10.0.0.1", count=4, expires_at=expires)
    with pytest.raises(CommandError, match=f"^{message}$"):
        unlock(target)
    assert counts() == {"user:alice": 3, "addr:10.0.0.1": 4}
