"""The admin works under the site's Content-Security-Policy: its JavaScript
runs and the browser reports no violation."""

import pytest

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

VIOLATIONS_JS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_admin_pages_run_their_javascript_with_no_csp_violation(live_server, page):
    admin = User.objects.create_superuser(username="admin", email="admin@example.com", password="pw-Admin-123")
    Post.objects.create(author=admin, title="Hello", body="World")
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(VIOLATIONS_JS)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-Admin-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    seen = list(page.evaluate("window.__csp"))

    # Change list: actions.js counts the selected rows.
    page.goto(f"{live_server.url}/admin/posts/post/")
    page.check("#action-toggle")
    assert page.inner_text(".action-counter").startswith("1 of 1 selected")
    seen += page.evaluate("window.__csp")

    # Change form: DateTimeShortcuts adds the "Today" / "Now" links with JavaScript.
    page.goto(f"{live_server.url}/admin/users/user/{admin.pk}/change/")
    page.wait_for_selector(".datetimeshortcuts a")
    seen += page.evaluate("window.__csp")

    assert seen == []
    assert not [text for text in console if "Content Security Policy" in text]
