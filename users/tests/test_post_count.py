"""users_user.post_count is kept by database triggers: it must equal the real
number of posts after every kind of write, including those that bypass
Django's signals and save()."""

from datetime import datetime, timezone
from io import StringIO

import pytest
from django.core import serializers
from django.core.management import call_command
from django.db import connection

from posts import triggers
from posts.models import Post
from posts.services import post_create, post_delete
from users.models import User

pytestmark = pytest.mark.django_db


def make_user(name: str) -> User:
    return User.objects.create_user(username=name, email=f"{name}@example.com", password="pw-Secret-123")


def counts() -> dict[str, tuple[int, int]]:
    """username -> (stored post_count, real number of posts)."""
    return {
        user.username: (user.post_count, Post.objects.filter(author=user).count())
        for user in User.objects.order_by("username")
    }


def assert_in_step(expected: dict[str, int]) -> None:
    actual = counts()
    assert {name: stored for name, (stored, _real) in actual.items()} == expected
    assert all(stored == real for stored, real in actual.values())


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


def test_services_and_single_writes_move_the_counter(alice, bob):
    post = post_create(author=alice, title="one", body="b")
    post_create(author=alice, title="two", body="b")
    Post.objects.create(author=bob, title="three", body="b")
    assert_in_step({"alice": 2, "bob": 1})
    post_delete(post=post)
    assert_in_step({"alice": 1, "bob": 1})


def test_bulk_create_queryset_update_and_queryset_delete(alice, bob):
    Post.objects.bulk_create([Post(author=alice, title=f"t{i}", body="b") for i in range(50)])
    assert_in_step({"alice": 50, "bob": 0})
    # Moving posts between authors with one UPDATE statement (no signals).
    moved = Post.objects.filter(title__in=["t1", "t2", "t3"]).update(author=bob)
    assert moved == 3
    assert_in_step({"alice": 47, "bob": 3})
    # An UPDATE that does not touch the author changes nothing.
    Post.objects.update(title="same")
    assert_in_step({"alice": 47, "bob": 3})
    Post.objects.filter(author=alice).delete()
    assert_in_step({"alice": 0, "bob": 3})


def test_deleting_a_user_cascades_and_leaves_the_others_right(alice, bob):
    post_create(author=alice, title="a", body="b")
    post_create(author=bob, title="b", body="b")
    alice.delete()
    assert_in_step({"bob": 1})
    assert Post.objects.count() == 1


def test_raw_sql_writes_are_counted(alice):
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO posts_post (author_id, title, body, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
            [alice.pk, "raw", "b", when, when],
        )
    assert_in_step({"alice": 1})
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM posts_post WHERE author_id = %s", [alice.pk])
    assert_in_step({"alice": 0})


def test_saving_a_stale_user_instance_does_not_write_its_old_count(alice):
    stale = User.objects.get(pk=alice.pk)
    post_create(author=alice, title="written meanwhile", body="b")
    stale.first_name = "Alice"
    stale.save()
    alice.refresh_from_db()
    assert alice.first_name == "Alice"
    assert alice.post_count == 1


def test_an_inserted_user_gets_the_real_count_whatever_the_insert_says(alice):
    # What loaddata or a copy tool does: rows arrive with an id, maybe after
    # their posts, maybe carrying a number from elsewhere.
    post_create(author=alice, title="a", body="b")
    data = serializers.serialize("json", [alice])
    assert "post_count" not in data  # never written to fixtures
    with connection.constraint_checks_disabled():
        Post.objects.filter(author=alice).update(author_id=alice.pk + 1000)
        User.objects.bulk_create(
            [User(id=alice.pk + 1000, username="carol", email="carol@example.com", password="!", post_count=99)]
        )
    assert_in_step({"alice": 0, "carol": 1})


def test_a_fixture_round_trip_keeps_the_counts(alice, bob, tmp_path):
    post_create(author=alice, title="a", body="b")
    post_create(author=alice, title="b", body="b")
    post_create(author=bob, title="c", body="b")
    fixture = tmp_path / "data.json"
    call_command("dumpdata", "users.user", "posts.post", output=str(fixture), verbosity=0)
    Post.objects.all().delete()
    User.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert_in_step({"alice": 2, "bob": 1})


# MariaDB/MySQL commit implicitly on CREATE/DROP TRIGGER: a transactional
# test, so that what it writes is flushed afterwards on every engine.
@pytest.mark.django_db(transaction=True)
def test_missing_triggers_are_put_back_and_the_counts_repaired(alice):
    triggers.uninstall(connection)
    assert triggers.installed(connection) == set()
    post_create(author=alice, title="not counted", body="b")
    assert User.objects.get(pk=alice.pk).post_count == 0
    assert triggers.ensure_installed(connection) is True
    assert triggers.installed(connection) == triggers.expected(connection)
    assert_in_step({"alice": 1})
    assert triggers.ensure_installed(connection) is False


def test_recount_posts_repairs_a_drifted_counter(alice, bob):
    post_create(author=alice, title="a", body="b")
    User.objects.update(post_count=7)
    assert User.objects.recount_posts() == 2
    assert_in_step({"alice": 1, "bob": 0})


def test_saving_never_writes_the_count_not_even_when_asked(alice):
    post_create(author=alice, title="a", body="b")
    # Loaded before the post, changed in memory: neither reaches the column.
    alice.post_count = 42
    alice.save()
    alice.save(update_fields=["post_count"])
    assert User.objects.get(pk=alice.pk).post_count == 1
    # A repair writes it on purpose, with QuerySet.update().
    User.objects.filter(pk=alice.pk).update(post_count=5)
    assert User.objects.get(pk=alice.pk).post_count == 5


def test_the_recount_command_reports_and_repairs(alice, bob):
    post_create(author=alice, title="a", body="b")
    User.objects.filter(pk=bob.pk).update(post_count=5)
    out = StringIO()
    call_command("recount_posts", stdout=out)
    assert "1 user(s) had a wrong count" in out.getvalue()
    assert_in_step({"alice": 1, "bob": 0})
    out = StringIO()
    call_command("recount_posts", stdout=out)
    assert "0 user(s) had a wrong count" in out.getvalue()
