"""The admin in a real browser (Debian's Chromium via Playwright) against a
live server: the whole round trip a person makes, and a failed log-in."""

import re

import pytest

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-Admin-123"


@pytest.fixture
def superuser():
    return User.objects.create_superuser(username="root", email="root@example.com", password=PASSWORD)


def log_in(page, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_a_failed_log_in_shows_the_error_and_lets_nobody_in(live_server, page, superuser):
    log_in(page, live_server.url, password="not-the-password")
    assert "Please enter the correct username and password" in page.inner_text(".errornote")
    page.goto(f"{live_server.url}/admin/posts/post/")
    assert "/admin/login/" in page.url


def test_create_a_user_and_their_post_find_edit_delete_and_log_out(live_server, page, superuser):
    base = live_server.url
    # Some other users, so that the autocomplete has to find the right one.
    for i in range(5):
        User.objects.create_user(username=f"someone{i}", email=f"someone{i}@example.com", password="x-Secret-123")
    log_in(page, base)
    page.wait_for_url(f"{base}/admin/")
    assert page.get_by_role("link", name="API documentation").get_attribute("href") == "/api/docs/"

    # A user, through the add form (which asks for the email too).
    page.goto(f"{base}/admin/users/user/add/")
    page.fill("#id_username", "writer")
    page.fill("#id_email", "writer@example.com")
    page.fill("#id_password1", "pw-Writer-12345")
    page.fill("#id_password2", "pw-Writer-12345")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/users/user/\d+/change/"))
    writer = User.objects.get(username="writer")
    assert writer.email == "writer@example.com"

    # A post for that user, choosing the author through the autocomplete.
    page.goto(f"{base}/admin/posts/post/add/")
    page.click("#post_form .select2-selection")
    page.fill(".select2-search__field", "writ")
    page.click(".select2-results__option:has-text('writer')")
    page.fill("#id_title", "A post typed in a browser")
    page.fill("#id_body", "Its body mentions quokkas.")
    page.click("input[name=_save]")
    page.wait_for_url(f"{base}/admin/posts/post/")
    post = Post.objects.get()
    assert (post.author, post.title) == (writer, "A post typed in a browser")

    # Found by search (in its body).
    page.fill("#searchbar", "quokkas")
    page.click("#changelist-search input[type=submit]")
    page.wait_for_url(re.compile(r"q=quokkas"))
    assert page.locator("#result_list tbody tr").count() == 1
    assert "writer" in page.inner_text("#result_list tbody tr")

    # Edited.
    page.click("#result_list tbody tr th a")
    page.wait_for_url(re.compile(rf"/admin/posts/post/{post.pk}/change/"))
    page.fill("#id_title", "An edited title")
    page.click("input[name=_save]")
    # Back to the list, still searching for what was searched.
    page.wait_for_url(re.compile(r"/admin/posts/post/\?q=quokkas$"))
    post.refresh_from_db()
    assert post.title == "An edited title"

    # An empty title is a form error and changes nothing.
    page.goto(f"{base}/admin/posts/post/{post.pk}/change/")
    page.fill("#id_title", "   ")
    page.click("input[name=_save]")
    page.locator(".errornote").wait_for()
    assert "This field is required." in page.inner_text(".errorlist")
    post.refresh_from_db()
    assert post.title == "An edited title"

    # The writer's page lists the post and links to all of their posts.
    page.goto(f"{base}/admin/users/user/{writer.pk}/change/")
    assert "An edited title" in page.inner_text(".recent-posts")
    page.click("a.all-posts")
    page.wait_for_url(re.compile(rf"author={writer.pk}"))
    assert page.locator("#result_list tbody tr").count() == 1

    # Deleted.
    page.goto(f"{base}/admin/posts/post/{post.pk}/delete/")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/posts/post/")
    assert not Post.objects.exists()
    assert User.objects.get(pk=writer.pk).post_count == 0

    # Logged out: the admin asks for a log-in again.
    page.click("#logout-form button")
    page.wait_for_url(re.compile(r"/admin/logout/"))
    page.goto(f"{base}/admin/")
    assert "/admin/login/" in page.url
