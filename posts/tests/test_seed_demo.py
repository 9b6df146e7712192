from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db


def seed(*args):
    out, err = StringIO(), StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot():
    return (
        list(User.objects.order_by("username").values_list("username", "email", "first_name")),
        list(Post.objects.order_by("created_at").values_list("author__username", "title", "body", "created_at")),
    )


def test_loads_the_requested_counts_and_reports_them():
    out, err = seed("--users", "7", "--posts", "40", "--batch-size", "9")
    assert (User.objects.count(), Post.objects.count()) == (7, 40)
    assert "Loaded 7 users and 40 posts" in out
    assert "posts: 40/40 (100%)" in err  # progress goes to stderr
    assert not User.objects.filter(password__startswith="pbkdf2").exists()  # demo users cannot log in


def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    seed("--users", "5", "--posts", "30", "--seed", "3")
    first = snapshot()
    Post.objects.all().delete()
    User.objects.all().delete()
    seed("--users", "5", "--posts", "30", "--seed", "3")
    assert snapshot() == first
    Post.objects.all().delete()
    User.objects.all().delete()
    seed("--users", "5", "--posts", "30", "--seed", "4")
    assert snapshot()[1] != first[1]


def test_refuses_a_database_that_holds_data_and_changes_nothing():
    seed("--users", "3", "--posts", "10")
    before = snapshot()
    with pytest.raises(CommandError, match="already holds"):
        seed("--users", "3", "--posts", "10")
    assert snapshot() == before


def test_if_empty_skips_a_database_with_data():
    seed("--users", "3", "--posts", "10")
    out, _ = seed("--users", "3", "--posts", "10", "--if-empty")
    assert "no demo data loaded" in out
    assert Post.objects.count() == 10


def test_a_staff_account_alone_does_not_count_as_data():
    User.objects.create_superuser(username="admin", email="admin@example.com", password="pw-Admin-123")
    seed("--users", "2", "--posts", "4", "--if-empty")
    assert Post.objects.count() == 4
    assert set(Post.objects.values_list("author__is_staff", flat=True)) == {False}


@pytest.mark.parametrize("args", [("--users", "0"), ("--posts", "-1"), ("--batch-size", "0")])
def test_bad_counts_are_command_errors(args):
    with pytest.raises(CommandError):
        seed(*args)
    assert User.objects.count() == Post.objects.count() == 0
