from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
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


def test_foreign_key_to_missing_user_is_refused(author):
    # On SQLite and PostgreSQL Django's foreign keys are DEFERRABLE INITIALLY
    # DEFERRED: the check runs at commit, and check_constraints() runs it now,
    # inside the test transaction. MariaDB cannot defer: it refuses the INSERT.
    with transaction.atomic():
        with pytest.raises(IntegrityError):  # noqa: PT012 (the error comes from either statement, by engine)
            Post.objects.create(author_id=author.pk + 1000, title="orphan", body="body")
            connection.check_constraints(table_names=[Post._meta.db_table])
        transaction.set_rollback(True)
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
