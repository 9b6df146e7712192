from __future__ import annotations

from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Length, Trim, TruncDate
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.urls import reverse
from django.utils import timezone

from dbtools.engines import engine_for
from posts.search import Order, search_posts

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

TITLE_MAX_LENGTH = 200


class PostQuerySet(models.QuerySet):
    def with_author(self) -> PostQuerySet:
        """Posts with their author in the same query (no query per row)."""
        return self.select_related("author")

    # The columns a post is shown with over the API (posts.api.PostSerializer).
    API_VALUES = ("id", "title", "body", "created_at", "updated_at", "author_id", "author_username")

    def for_api(self) -> PostQuerySet:
        """Posts with their author's username (``author_username``) in the same
        query: what the API shows, whether read as model instances or as
        ``values(*API_VALUES)`` rows (a page needs no model instances).

        A join, or where the engine's planner would sort the whole join to
        keep one page (``Engine.joined_page_stops_early``) a subquery per row:
        the page is then read from the posts' own index alone."""
        if engine_for(self.db).joined_page_stops_early:
            return self.annotate(author_username=F("author__username"))
        authors = self.model._meta.get_field("author").related_model._default_manager
        username = authors.filter(pk=OuterRef("author_id")).values("username")[:1]
        return self.annotate(author_username=Subquery(username))

    def newest_first(self) -> PostQuerySet:
        # Matches the (created_at DESC, id DESC) indexes; id breaks ties so
        # that pages never repeat or skip a post with the same timestamp.
        return self.order_by("-created_at", "-id")

    def by_author(self, author) -> PostQuerySet:
        return self.filter(author=author)

    def search(self, query: str, *, order: Order = "newest") -> PostQuerySet:
        """The posts of this queryset matching a full-text search in title, body and
        author's username (see ``posts.search.search_posts``, which also says how
        many there are and is what lists paginate with).

        Raises ``InvalidSearchQuery`` (a ValueError) for text that cannot be searched.
        """
        return search_posts(self, query, order=order).posts

    def created_between(self, after: datetime | None = None, before: datetime | None = None) -> PostQuerySet:
        qs = self
        if after is not None:
            qs = qs.filter(created_at__gte=after)
        if before is not None:
            qs = qs.filter(created_at__lt=before)
        return qs

    def sorted_by(self, by: str) -> PostQuerySet:
        """``created_at``, ``-created_at``, ``title`` or ``-title``; id breaks ties so pages are stable.

        Not ``ordered``: that is QuerySet's property saying whether the queryset
        has an order, which ``first()``, ``last()`` and the paginator read."""
        if by not in ORDERINGS:
            raise ValueError(f"Unknown ordering {by!r}; expected one of {', '.join(ORDERINGS)}.")
        return self.order_by(*ORDERINGS[by])

    def per_day(self, *, days: int, today: date | None = None) -> list[dict]:
        """Posts per UTC day over the last ``days`` days (today included), zero-filled: one query."""
        today = today or timezone.now().astimezone(dt_timezone.utc).date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time.min, tzinfo=dt_timezone.utc)
        counts = dict(
            self.filter(created_at__gte=since)
            .annotate(day=TruncDate("created_at", tzinfo=dt_timezone.utc))
            .values("day")
            .annotate(n=models.Count("id"))
            .order_by()
            .values_list("day", "n")
        )
        return [
            {"date": first + timedelta(days=i), "count": counts.get(first + timedelta(days=i), 0)} for i in range(days)
        ]


ORDERINGS = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
}


class Post(models.Model):
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="posts",
        # The composite (author, created_at, id) index below starts with
        # author_id and serves the foreign key too; a separate one would only
        # slow down writes.
        db_index=False,
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="posts_post_newest_idx"),
            models.Index(fields=["author", "-created_at", "-id"], name="posts_post_author_newest_idx"),
            # Sorting the admin's posts list by title or by last update reads
            # the first page from these instead of sorting every post (2.3 s
            # at a million posts without them). The id makes the order total,
            # as the admin asks for, so no engine sorts even within a title.
            models.Index(fields=["title", "id"], name="posts_post_title_idx"),
            models.Index(fields=["updated_at", "id"], name="posts_post_updated_idx"),
        ]
        constraints = [
            # SQLite does not enforce VARCHAR lengths and nothing stops a blank
            # title written outside Django's forms; the database does.
            models.CheckConstraint(
                condition=GreaterThan(Length(Trim("title")), 0),
                name="posts_post_title_not_blank",
                violation_error_message="The title cannot be blank.",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("title"), TITLE_MAX_LENGTH),
                name="posts_post_title_max_length",
                violation_error_message=f"The title can have at most {TITLE_MAX_LENGTH} characters.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("posts:detail", args=[self.pk])

    def can_be_changed_by(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Who may edit or delete this post: its author, or a staff member."""
        return bool(user.is_authenticated and (user.pk == self.author_id or user.is_staff))


class DataVersion(models.Model):
    """One row: a version of everything the API's lists show, and when it last changed.

    Written only by database triggers (``posts/triggers.py``, migration
    ``0004_data_version``), on every write to posts and to the user columns
    the API shows, whatever makes the write. ``version`` is a new random
    number each time; ``changed_at`` is Unix time in seconds. Read by
    ``project.httpcache`` for ETags, Last-Modified and the page cache.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField()
    changed_at = models.BigIntegerField(help_text="Unix time (seconds) of the last change.")

    def __str__(self) -> str:
        return f"{self.version} at {self.changed_at}"
