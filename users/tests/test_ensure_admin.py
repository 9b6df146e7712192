import stat
from io import StringIO

import pytest
from django.core.management import call_command

from users.models import User

pytestmark = pytest.mark.django_db


def ensure_admin(path):
    out = StringIO()
    call_command("ensure_admin", "--credentials-file", str(path), stdout=out)
    return out.getvalue()


def test_creates_a_superuser_once_and_prints_a_working_login(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    path = tmp_path / "login.txt"
    first = ensure_admin(path)
    password = first.rsplit("password: ", 1)[1].strip()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_admin(path).rsplit("password: ", 1)[1].strip() == password
    assert User.objects.count() == 1


def test_uses_admin_password_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "chosen-Pass-123")
    ensure_admin(tmp_path / "login.txt")
    assert User.objects.get(username="admin").check_password("chosen-Pass-123")


def test_never_prints_a_password_that_was_changed_since(tmp_path):
    path = tmp_path / "login.txt"
    ensure_admin(path)
    admin = User.objects.get(username="admin")
    admin.set_password("changed-Pass-456")
    admin.save()
    out = ensure_admin(path)
    assert "password is not known here" in out
    assert "changed-Pass-456" not in out
