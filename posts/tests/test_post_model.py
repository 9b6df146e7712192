import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator, UnorderedObjectListWarning
from django.db import DEFAULT_DB_ALIAS, DataError, IntegrityError, connections, transaction
from django.utils import timezone

from posts.models import TITLE_MAX_LENGTH, Post
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")


@pytest.mark.parametrize("title", ["", "   ", "x" * (TITLE_MAX_LENGTH + 1)], ids=["empty", "spaces", "too-long"])
def test_bad_title_is_a_validation_error(author, title):
    post = Post(author=author, title=title, body="body")
    with pytest.raises(ValidationError) as excinfo:
        post.full_clean()
    assert "title" in excinfo.value.message_dict or "__all__" in excinfo.value.message_dict
    assert Post.objects.count() == 0


@pytest.mark.parametrize("title", ["   ", "x" * (TITLE_MAX_LENGTH + 1)], ids=["blank", "too-long"])
def test_database_refuses_bad_title_written_around_validation(author, title):
    # SQLite refuses through the CHECK constraints (IntegrityError). PostgreSQL and
    # MariaDB (strict mode) refuse an over-long value at VARCHAR(200) already,
    # before any CHECK runs, and report it as a DataError.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Post.objects.create(author=author, title=title, body="body")
    assert Post.objects.count() == 0


def test_title_of_max_length_is_accepted(author):
    post = Post(author=author, title="x" * TITLE_MAX_LENGTH, body="body")
    post.full_clean()
    post.save()
    assert Post.objects.get().title == "x" * TITLE_MAX_LENGTH


@pytest.fixture
def new_connection():
    """The alias of a connection opened now, set up as the project sets up
    every new connection. (The test database's own connection is not: on
    SQLite the migrations' schema editor turned its foreign keys back on.)"""
    alias = "new"
    connections[alias] = connections.create_connection(DEFAULT_DB_ALIAS)
    yield alias
    if connections[alias].connection is not None:
        connections[alias].connection.close()  # also on SQLite in memory, where close() keeps it open
    del connections[alias]


# Committed rows only: a second connection to SQLite's shared in-memory test
# database cannot read a table another connection is writing in a transaction.
@pytest.mark.django_db(transaction=True)
def test_the_insert_of_a_post_for_a_missing_user_is_refused(author, new_connection):
    # In autocommit the INSERT is its own transaction, so every engine checks
    # the foreign key before the statement returns: SQLite and PostgreSQL at
    # the commit of their deferred constraint, MariaDB at once. With
    # enforcement off (PRAGMA foreign_keys=OFF) the orphan would be stored.
    assert connections[new_connection].get_autocommit()
    with pytest.raises(IntegrityError):
        Post.objects.using(new_connection).create(author_id=author.pk + 1000, title="orphan", body="body")
    assert Post.objects.using(new_connection).count() == 0
    assert Post.objects.count() == 0


def test_deleting_a_user_deletes_their_posts(author):
    other = User.objects.create_user(username="bob", email="bob@example.com", password="pw-Bob-12345")
    Post.objects.create(author=author, title="mine", body="b")
    Post.objects.create(author=other, title="theirs", body="b")
    author.delete()
    assert list(Post.objects.values_list("title", flat=True)) == ["theirs"]


def test_newest_first_breaks_timestamp_ties_by_id(author):
    now = timezone.now()
    older = Post.objects.create(author=author, title="older", body="b", created_at=now - timedelta(days=1))
    tie_a = Post.objects.create(author=author, title="a", body="b", created_at=now)
    tie_b = Post.objects.create(author=author, title="b", body="b", created_at=now)
    assert list(Post.objects.all()) == [tie_b, tie_a, older]
    assert list(Post.objects.newest_first()) == [tie_b, tie_a, older]


def test_updated_at_moves_on_save_and_created_at_does_not(author):
    post = Post.objects.create(author=author, title="t", body="b")
    created, updated = post.created_at, post.updated_at
    post.title = "t2"
    post.save()
    post.refresh_from_db()
    assert post.created_at == created
    assert post.updated_at > updated


def test_with_author_fetches_authors_in_the_same_query(author, django_assert_num_queries):
    for i in range(5):
        Post.objects.create(author=author, title=f"t{i}", body="b")
    with django_assert_num_queries(1):
        assert {p.author.username for p in Post.objects.with_author()} == {"alice"}


@pytest.mark.skipif(
    connections[DEFAULT_DB_ALIAS].vendor == "sqlite", reason="SQLite writes one transaction at a time: no row locks"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_by_one_author_all_land_and_are_counted(author):
    """Writers of one author at once: each post's foreign key check and its
    count trigger lock the author's row; in the wrong order two of them
    deadlock and the database kills one (MariaDB's AFTER INSERT trigger did,
    for 8% of the posts of 32 clients)."""
    from posts.services import post_create

    writers, each = 8, 15
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                post_create(author=author, title=f"w{n} p{i}", body="b")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert Post.objects.filter(author=author).count() == writers * each
    author.refresh_from_db()
    assert author.post_count == writers * each


def test_querysets_of_posts_keep_djangos_ordered_property(author):
    """QuerySet.ordered says whether a queryset has an order; first(), last()
    and the paginator's warning read it. A method of that name on
    PostQuerySet made every queryset of posts look ordered."""
    first, second = (Post.objects.create(author=author, title=f"t{i}", body="b") for i in range(2))
    assert Post.objects.all().ordered is True  # Meta.ordering
    unordered = Post.objects.order_by()
    assert unordered.ordered is False
    # first() of an unordered queryset orders by the primary key itself.
    assert unordered.first() == first
    assert unordered.last() == second
    with pytest.warns(UnorderedObjectListWarning):
        Paginator(unordered, 1)
