"""The admin and the site work under the Content-Security-Policy: their
JavaScript runs and the browser reports no violation on any page visited,
the log-in pages included."""

import pytest

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def settle(page):
    """Let events queued while the page loaded (violations among them) be delivered."""
    page.wait_for_load_state("load")
    page.evaluate("() => new Promise(resolve => setTimeout(resolve, 50))")


def test_no_page_reports_a_csp_violation(live_server, page, csp_violations):
    admin = User.objects.create_superuser(username="admin", email="admin@example.com", password="pw-Admin-123")
    Post.objects.create(author=admin, title="Hello", body="World")

    # The site's own log-in form, then its pages.
    page.goto(f"{live_server.url}/accounts/login/")
    settle(page)
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-Admin-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    settle(page)

    # The admin's log-in page, in a fresh session.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    settle(page)
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-Admin-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    settle(page)

    # Change list: actions.js counts the selected rows.
    page.goto(f"{live_server.url}/admin/posts/post/")
    page.check("#action-toggle")
    assert page.inner_text(".action-counter").startswith("1 of 1 selected")
    settle(page)

    # Change form: DateTimeShortcuts adds the "Today" / "Now" links with JavaScript.
    page.goto(f"{live_server.url}/admin/users/user/{admin.pk}/change/")
    page.wait_for_selector(".datetimeshortcuts a")
    settle(page)

    assert csp_violations == []
