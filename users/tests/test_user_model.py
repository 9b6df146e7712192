import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db


def make_user(username="alice", email="alice@example.com", **extra):
    return User.objects.create_user(username=username, email=email, password="pw-Alice-123", **extra)


@pytest.mark.parametrize("method", ["create_user", "create_superuser", "acreate_user", "acreate_superuser"])
def test_email_is_required_by_every_creation_method(method):
    create = getattr(User.objects, method)
    # The async methods run through async_to_sync, as a sync caller would run them.
    call = async_to_sync(create) if method.startswith("a") else create
    with pytest.raises(ValueError, match="must have an email address"):
        call(username="alice", email="", password="x")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Alice", "a@example.com"), ("alice", "b@example.com")),
        (("alice", "Alice@Example.com"), ("bob", "alice@example.com")),
    ],
    ids=["username", "email"],
)
def test_uniqueness_ignores_case_in_the_database(first, second):
    make_user(*first)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_user(*second)
    assert list(User.objects.values_list("username", flat=True)) == [first[0]]


def test_model_validation_reports_duplicate_email_in_other_case():
    make_user("alice", "alice@example.com")
    user = User(username="bob", email="ALICE@example.com")
    user.set_password("pw-Bob-12345")
    with pytest.raises(ValidationError) as excinfo:
        user.full_clean()
    assert "A user with that email address already exists." in str(excinfo.value)


def test_login_name_is_case_insensitive():
    user = make_user("Alice")
    assert authenticate(username="aLiCe", password="pw-Alice-123") == user
    assert authenticate(username="alice", password="wrong") is None


def test_superuser_and_str():
    admin = User.objects.create_superuser(username="root", email="root@example.com", password="pw-Root-123")
    assert admin.is_staff
    assert admin.is_superuser
    assert str(admin) == "root"


def test_post_count_counts_each_users_posts():
    alice, bob = make_user("alice", "a@example.com"), make_user("bob", "b@example.com")
    Post.objects.bulk_create([Post(author=alice, title=f"t{i}", body="b") for i in range(3)])
    counts = dict(User.objects.values_list("username", "post_count"))
    assert counts == {"alice": 3, "bob": 0}
    assert bob.posts.count() == 0
