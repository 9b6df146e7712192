from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Count, Value
from django.db.models.functions import Lower


class UserQuerySet(models.QuerySet):
    def with_post_counts(self) -> UserQuerySet:
        """Annotate ``post_count``: one grouped query, never one per user."""
        return self.annotate(post_count=Count("posts"))


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    """Creation rules for users: an email is required and stored normalised."""

    def _create_user(self, username: str, email: str | None, password: str | None, **extra_fields: Any):
        if not email:
            raise ValueError("Users must have an email address.")
        return super()._create_user(username, email, password, **extra_fields)

    def get_by_natural_key(self, username: str):
        # Log-in is case-insensitive, like the uniqueness rule: "Alice" logs in as "alice".
        # LOWER(username) = LOWER(%s) on both sides, so the comparison folds case
        # exactly as the unique index does and can use that index.
        return self.alias(username_lower=Lower("username")).get(username_lower=Lower(Value(username)))


class User(AbstractUser):
    # Required, unlike AbstractUser's. Uniqueness regardless of case is a
    # database constraint (Meta.constraints), so no code path can bypass it.
    email = models.EmailField("email address", max_length=254)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="users_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                name="users_user_email_ci_unique",
                violation_error_message="A user with that email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.username


class LoginFailure(models.Model):
    """Failed log-in attempts counted per key ("user:<name>" or "addr:<ip>") for
    the brute-force lockout (``project.lockout``). Kept in the database rather
    than a per-process cache so every server process sees the same count, and
    counted with row locks so parallel attempts cannot slip past the limit."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
