"""Writes to posts. The API, the admin, the pages and commands all call these,
so the rules live in one place."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from posts.models import Post
from users.models import User


def _checked_save(post: Post) -> Post:
    # Field rules (length, blank) are checked here with a clear message; the
    # database's CHECK constraints stay the last line of defence, and an
    # IntegrityError from them still becomes a ValidationError, never a 500.
    post.clean_fields(exclude={"author"})
    try:
        with transaction.atomic(using=post._state.db or None):
            post.save()
    except IntegrityError as exc:
        raise ValidationError(f"The post was refused by the database: {exc}") from exc
    return post


@transaction.atomic
def post_create(*, author: User, title: str, body: str) -> Post:
    return _checked_save(Post(author=author, title=title.strip(), body=body))


@transaction.atomic
def post_update(*, post: Post, title: str | None = None, body: str | None = None) -> Post:
    if title is not None:
        post.title = title.strip()
    if body is not None:
        post.body = body
    return _checked_save(post)


@transaction.atomic
def post_delete(*, post: Post) -> None:
    post.delete()
