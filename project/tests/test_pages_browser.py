"""The public site in headless Chromium, the way a new visitor uses it:
sign up, log in, write a post, find it first on the home page, edit it, log out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up_log_in_write_edit_and_log_out(live_server, page):
    # Older posts by someone else, so "first on the home page" means something.
    someone = User.objects.create_user(username="someone", email="someone@example.com", password="pw-Some-12345")
    earlier = timezone.now() - timedelta(hours=1)
    Post.objects.bulk_create(
        Post(author=someone, title=f"Older post {i}", body="...", created_at=earlier + timedelta(minutes=i))
        for i in range(3)
    )

    # Sign up; a mistyped confirmation is shown next to its field first.
    page.goto(f"{live_server.url}/")
    # The stylesheet is served from the project's own static files (no CDN).
    stylesheet = page.get_attribute("link[rel=stylesheet]", "href")
    assert stylesheet.startswith("/static/")
    assert page.eval_on_selector(".button", "e => getComputedStyle(e).backgroundColor") == "rgb(11, 92, 173)"
    page.click("text=Sign up")
    page.fill("#id_username", "Reader")
    page.fill("#id_email", "reader@example.com")
    page.fill("#id_password1", "a-long-Pass-42")
    page.fill("#id_password2", "a-long-Pass-43")
    page.click("button:has-text('Create account')")
    assert "The two passwords do not match." in page.inner_text(".field.has-error")
    assert not User.objects.filter(username="Reader").exists()
    page.fill("#id_password1", "a-long-Pass-42")
    page.fill("#id_password2", "a-long-Pass-42")
    page.click("button:has-text('Create account')")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    assert "Welcome, Reader!" in page.inner_text(".messages")

    # Log in (any letter case works).
    page.fill("#id_username", "reader")
    page.fill("#id_password", "a-long-Pass-42")
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{live_server.url}/")
    assert page.inner_text(".nav-links").count("Reader") == 1

    # Write a post.
    page.click("text=Write a post")
    page.fill("#id_title", "Notes from the browser")
    page.fill("#id_body", "Written in Chromium.\n\nSecond paragraph.")
    page.click("button:has-text('Publish')")
    post = Post.objects.get(title="Notes from the browser")
    page.wait_for_url(f"{live_server.url}/posts/{post.pk}/")
    assert post.author.username == "Reader"
    assert page.inner_text("h1") == "Notes from the browser"

    # It is the first post on the home page.
    page.click("nav >> text=Latest")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".post-summary .post-title").first.inner_text() == "Notes from the browser"

    # Edit it from its page.
    page.locator(".post-summary .post-title a").first.click()
    page.click("text=Edit")
    page.wait_for_url(f"{live_server.url}/posts/{post.pk}/edit/")
    assert page.input_value("#id_title") == "Notes from the browser"
    page.fill("#id_title", "Notes, edited")
    page.click("button:has-text('Save changes')")
    page.wait_for_url(f"{live_server.url}/posts/{post.pk}/")
    assert page.inner_text("h1") == "Notes, edited"
    post.refresh_from_db()
    assert post.title == "Notes, edited"
    page.click("nav >> text=Latest")
    assert page.locator(".post-summary .post-title").first.inner_text() == "Notes, edited"

    # Log out.
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".nav-links >> text=Log in").is_visible()
    assert page.locator("text=Write a post").count() == 0
