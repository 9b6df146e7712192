import pytest

from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_login_page_loads_and_a_wrong_password_shows_the_error(live_server, page):
    User.objects.create_superuser(username="admin", email="admin@example.com", password="pw-Admin-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "wrong-password")
    page.click("input[type=submit]")
    assert "Please enter the correct username and password" in page.inner_text(".errornote")
    page.fill("#id_password", "pw-Admin-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Site administration" in page.title()
