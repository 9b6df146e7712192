from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Length, Lower
from django.db.models.lookups import LessThanOrEqual
from django.urls import reverse

from users.fields import DatabaseCounterField


class UserQuerySet(models.QuerySet):
    def recount_posts(self) -> int:
        """Recompute ``post_count`` from the posts table; returns the number
        of users updated. Only needed after writes that bypass the triggers
        (a MariaDB/MySQL ``TRUNCATE`` of the posts table, a bulk load with
        triggers disabled); ``manage.py recount_posts`` runs it."""
        return self.update(post_count=real_post_count())

    def matching(self, q: str) -> UserQuerySet:
        """Users whose username contains ``q``, in any letter case."""
        return self.filter(username__icontains=q)

    def top_authors(self, limit: int) -> UserQuerySet:
        """The ``limit`` users with the most posts, most first, ties by id."""
        return self.filter(post_count__gt=0).order_by("-post_count", "id")[:limit]


def real_post_count() -> Coalesce:
    """An expression: the number of posts of the user in the outer query."""
    from posts.models import Post

    per_author = Post.objects.filter(author=OuterRef("pk")).order_by().values("author").annotate(n=Count("*"))
    return Coalesce(Subquery(per_author.values("n")), 0)


def require_email(email: str | None) -> None:
    if not email:
        raise ValueError("Users must have an email address.")


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    """Creation rules for users: an email is required and stored normalised.

    The rule is checked in each of Django's public creation methods. Django's
    private ``_create_user`` would be one place, but ``acreate_user`` and
    ``acreate_superuser`` do not go through it. Forms and the API validate the
    field itself (required, a valid address, unique regardless of case).
    """

    def create_user(self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any):
        require_email(email)
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ):
        require_email(email)
        return super().create_superuser(username, email, password, **extra_fields)

    async def acreate_user(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ):
        require_email(email)
        return await super().acreate_user(username, email, password, **extra_fields)

    async def acreate_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ):
        require_email(email)
        return await super().acreate_superuser(username, email, password, **extra_fields)

    def get_by_natural_key(self, username: str):
        # Log-in is case-insensitive, like the uniqueness rule: "Alice" logs in as "alice".
        # LOWER(username) = LOWER(%s) on both sides, so the comparison folds case
        # exactly as the unique index does and can use that index.
        return self.alias(username_lower=Lower("username")).get(username_lower=Lower(Value(username)))


class User(AbstractUser):
    # Required, unlike AbstractUser's. Uniqueness regardless of case is a
    # database constraint (Meta.constraints), so no code path can bypass it.
    email = models.EmailField("email address", max_length=254)
    # Denormalised count of the user's posts, kept in step by triggers on the
    # posts table (posts/migrations/0003_post_count_triggers.py) in the same
    # transaction as the write, whatever code makes it: services, the admin,
    # bulk_create, QuerySet.delete/update, cascades, raw SQL. Counting 500
    # posts per user at query time is what made the users list slow at a
    # million posts. Not editable, and not serialised: a fixture loaded with
    # loaddata gets its counts from the triggers (an insert into users also
    # recounts that user), never from stale numbers in the file.
    # A plain integer, not a positive one: should the count ever drift (see
    # recount_posts), a CHECK >= 0 would refuse to delete posts, which is worse.
    # The triggers alone write it: saving a User never does (DatabaseCounterField),
    # so a number loaded before a post was written cannot undo the triggers' work.
    post_count = DatabaseCounterField("posts", default=0, editable=False, serialize=False)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["id"]
        indexes = [
            # The number of all posts is the sum of this column (posts/counting.py):
            # read from this index, that sum is half the cost of reading the table.
            # It also serves sorting users by post count (the admin, the top authors).
            models.Index(fields=["post_count", "id"], name="users_user_post_count_idx"),
        ]
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
            # SQLite does not enforce VARCHAR lengths; PostgreSQL and MariaDB
            # do. These make all three refuse the same over-long values.
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("username"), 150),
                name="users_user_username_max_length",
                violation_error_message="A username can have at most 150 characters.",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("email"), 254),
                name="users_user_email_max_length",
                violation_error_message="An email address can have at most 254 characters.",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    def get_absolute_url(self) -> str:
        return reverse("users:detail", args=[self.username])


class LoginFailure(models.Model):
    """Failed log-in attempts counted per key ("user:<name>" or "addr:<ip>") for
    the brute-force lockout (``users.lockout``). Kept in the database rather
    than a per-process cache so every server process sees the same count, and
    counted with row locks so parallel attempts cannot slip past the limit."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
