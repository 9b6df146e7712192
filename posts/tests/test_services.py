import pytest
from django.core.exceptions import ValidationError

from posts.models import Post
from posts.services import post_create, post_delete, post_update
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")


def test_create_strips_the_title_and_saves(author):
    post = post_create(author=author, title="  Hello  ", body="text")
    assert Post.objects.get(pk=post.pk).title == "Hello"


@pytest.mark.parametrize("title", ["   ", "x" * 201])
def test_create_refuses_bad_titles_and_writes_nothing(author, title):
    with pytest.raises(ValidationError) as excinfo:
        post_create(author=author, title=title, body="text")
    assert "title" in excinfo.value.message_dict
    assert Post.objects.count() == 0


def test_update_changes_only_what_is_given_and_keeps_data_on_error(author):
    post = post_create(author=author, title="first", body="body")
    post_update(post=post, body="new body")
    post.refresh_from_db()
    assert (post.title, post.body) == ("first", "new body")
    with pytest.raises(ValidationError):
        post_update(post=post, title="")
    post.refresh_from_db()
    assert post.title == "first"


def test_delete(author):
    post = post_create(author=author, title="t", body="b")
    post_delete(post=post)
    assert not Post.objects.exists()
