"""Writes to users that carry rules: sign-up validates the password with
Django's validators and turns a lost uniqueness race into a validation error."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from rest_framework.authtoken.models import Token

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
    candidate.username = User.normalize_username(username)
    # Hash before the transaction: the hasher is slow on purpose, and with
    # BEGIN IMMEDIATE the write lock would be held for all of it.
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            return candidate
    except IntegrityError as exc:
        # Another sign-up with the same name or email committed between the
        # check above and this insert: the unique index decided the race.
        field = "email" if _taken("email", email) else "username"
        raise ValidationError(
            {field: [f"A user with that {field.replace('email', 'email address')} already exists."]}
        ) from exc


def _taken_by_other(field: str, value: str, user: User) -> bool:
    return User.objects.alias(folded=Lower(field)).filter(folded=Lower(Value(value))).exclude(pk=user.pk).exists()


def email_taken(email: str, *, exclude: User | None = None) -> bool:
    """Whether a user (other than ``exclude``) has this address, in any letter case, as the unique index compares."""
    return _taken("email", email) if exclude is None else _taken_by_other("email", email, exclude)


def user_update(
    *, user: User, username: str | None = None, email: str | None = None, password: str | None = None
) -> User:
    """Change a user's own username, email or password, with the sign-up rules.

    Only these three fields: staff and superuser flags, groups and permissions
    are never changed here.
    """
    errors: dict[str, list[str]] = {}
    if username is not None and _taken_by_other("username", username, user):
        errors["username"] = ["A user with that username already exists."]
    if email is not None:
        email = User.objects.normalize_email(email)
        if _taken_by_other("email", email, user):
            errors["email"] = ["A user with that email address already exists."]
    if username is not None:
        user.username = username
    if email is not None:
        user.email = email
    if password is not None:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        user.refresh_from_db()
        raise ValidationError(errors)
    if password is not None:
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        user.refresh_from_db()
        raise ValidationError({"__all__": ["That username or email address was taken meanwhile."]}) from exc
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete a user and, by cascade, their posts and token."""
    user.delete()


def password_change(*, user: User, password: str, issue_token: bool = False) -> Token | None:
    """Set a new password (Django's validators apply) and rotate the user's API token.

    The old token stops working at once; a new one is made when the user had
    one (or ``issue_token`` asks for it) and returned. Sessions other than the
    caller's end by themselves: each stores a hash of the password, which no
    longer matches (the caller keeps its own with ``update_session_auth_hash``).
    """
    validate_password(password, user=user)
    # Hash before the transaction: the hasher is slow on purpose.
    user.set_password(password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        had_token = Token.objects.filter(user=user).delete()[0] > 0
        return Token.objects.create(user=user) if had_token or issue_token else None


def account_delete(*, user: User) -> None:
    """A user deleting their own account: their posts and token go with it.

    The last active superuser cannot: the site would be left without anyone
    who can administer it. The superusers' rows are locked first, so two of
    them deleting themselves at once cannot both pass the check.
    """
    with transaction.atomic():
        if user.is_superuser:
            others = User.objects.select_for_update().filter(is_superuser=True, is_active=True).exclude(pk=user.pk)
            if not list(others.values_list("pk", flat=True)):
                raise ValidationError(
                    "You are the only superuser: make someone else a superuser in the admin before deleting "
                    "this account.",
                    code="last_superuser",
                )
        user_delete(user=user)
