"""Writes to users that carry rules: sign-up validates the password with
Django's validators and turns a lost uniqueness race into a validation error."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower

from users.models import User


def _taken(field: str, value: str) -> bool:
    # Compare the way the unique indexes do: LOWER(column) = LOWER(value).
    return User.objects.alias(folded=Lower(field)).filter(folded=Lower(Value(value))).exists()


def user_create(*, username: str, email: str, password: str) -> User:
    """Create an ordinary (non-staff) user.

    Raises ValidationError with field-keyed messages for a taken username or
    email (in any letter case) and for a password Django's validators refuse.
    """
    email = User.objects.normalize_email(email)
    candidate = User(username=username, email=email)
    errors: dict[str, list[str]] = {}
    # The model fields' own validators (username characters, lengths, email
    # syntax): a form or serializer may not have run them.
    try:
        candidate.clean_fields(exclude=[f.name for f in User._meta.fields if f.name not in {"username", "email"}])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "username" not in errors and _taken("username", username):
        errors["username"] = ["A user with that username already exists."]
    if "email" not in errors and _taken("email", email):
        errors["email"] = ["A user with that email address already exists."]
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:
        # Another sign-up with the same name or email committed between the
        # check above and this insert: the unique index decided the race.
        field = "email" if _taken("email", email) else "username"
        raise ValidationError(
            {field: [f"A user with that {field.replace('email', 'email address')} already exists."]}
        ) from exc
