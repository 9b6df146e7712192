"""Forgotten password, in headless Chromium, with the message going through a
real SMTP server: ask for a link, follow it from the message, set a new
password, log in with it; the old one is refused. No CSP violation on the way."""

import pytest

from project.testing.mail import link_in
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

OLD, NEW = "old-Password-123", "brand-New-pass-456"


def log_in(page, url, password):
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", password)
    page.click("button:has-text('Log in')")


def test_forgot_password_mail_new_password_log_in(live_server, page, smtp_server, csp_violations):
    User.objects.create_user(username="reader", email="reader@example.com", password=OLD)

    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Forgot your password?")
    page.wait_for_url(f"{live_server.url}/accounts/password_reset/")
    page.fill("#id_email", "Reader@Example.com")
    page.click("button:has-text('Send the link')")
    page.wait_for_url(f"{live_server.url}/accounts/password_reset/done/")
    assert "Check your email" in page.inner_text("h1")

    (message,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["reader@example.com"]
    page.goto(link_in(message))
    page.wait_for_url("**/set-password/")
    assert page.inner_text("h1") == "Choose a new password"
    page.fill("#id_new_password1", NEW)
    page.fill("#id_new_password2", NEW)
    page.click("button:has-text('Set the new password')")
    page.wait_for_url(f"{live_server.url}/accounts/reset/done/")

    log_in(page, live_server.url, OLD)
    assert "Please enter a correct username and password" in page.inner_text(".form-errors")
    log_in(page, live_server.url, NEW)
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".nav-links >> text=reader").is_visible()

    # The link from the message works once.
    page.goto(link_in(message))
    assert page.inner_text("h1") == "This link is not valid"
    assert csp_violations == []
