import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from users.models import User
from users.services import user_create

pytestmark = pytest.mark.django_db


def test_creates_an_ordinary_user_with_a_hashed_password():
    user = user_create(username="alice", email="Alice@EXAMPLE.com", password="correct-horse-42")
    assert user.email == "Alice@example.com"  # domain part normalised
    assert user.check_password("correct-horse-42")
    assert not user.password.startswith("correct")
    assert not (user.is_staff)
    assert not (user.is_superuser)


def test_taken_names_in_other_case_and_weak_passwords_are_field_errors():
    user_create(username="alice", email="alice@example.com", password="correct-horse-42")
    with pytest.raises(ValidationError) as excinfo:
        user_create(username="ALICE", email="ALICE@example.com", password="123")
    errors = excinfo.value.message_dict
    assert set(errors) == {"username", "email", "password"}
    assert User.objects.count() == 1


def test_a_lost_race_is_a_validation_error_not_an_integrity_error(monkeypatch):
    user_create(username="alice", email="alice@example.com", password="correct-horse-42")
    # Simulate the race: the pre-check sees nothing, the unique index decides.
    monkeypatch.setattr("users.services._taken", lambda field, value: False)
    with pytest.raises(ValidationError) as excinfo:
        user_create(username="bob", email="Alice@example.com", password="correct-horse-42")
    assert not isinstance(excinfo.value, IntegrityError)
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("bad name!", "ok@example.com", "username"), ("x" * 151, "ok@example.com", "username"), ("ok", "nope", "email")],
)
def test_field_validators_run_even_without_a_form(username, email, field):
    with pytest.raises(ValidationError) as excinfo:
        user_create(username=username, email=email, password="correct-horse-42")
    assert field in excinfo.value.message_dict
    assert User.objects.count() == 0
