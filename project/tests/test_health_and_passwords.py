from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from project import health
from users.models import User


@pytest.fixture(autouse=True)
def _fresh_health_cache(monkeypatch):
    monkeypatch.setattr(health, "_migrations_ok", set())


@pytest.mark.django_db
def test_healthz_ok_is_json_and_needs_no_login(client, settings, tmp_path, django_assert_max_num_queries):
    settings.BACKUP_DIR = tmp_path / "backups"
    client.get("/healthz")  # first call loads the migration graph once
    with django_assert_max_num_queries(1):  # SELECT 1, nothing else once migrations are known
        response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "backups": "ok", "replica": "not configured"},
        "replica": {"configured": False},
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_reports_an_unapplied_migration(client, settings, tmp_path):
    settings.BACKUP_DIR = tmp_path
    # Forget the latest posts migration, as if a deploy brought it without running migrate.
    (_, latest) = max(key for key in MigrationLoader(connection).graph.leaf_nodes() if key[0] == "posts")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'posts' AND name = %s", [latest])
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["status"] == "error"
    assert response.json()["checks"]["migrations"] == f"1 unapplied: posts.{latest}"


@pytest.mark.django_db
def test_healthz_reports_a_backup_folder_it_cannot_write(client, settings, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    settings.BACKUP_DIR = read_only / "backups"
    try:
        response = client.get("/healthz")
    finally:
        read_only.chmod(0o755)
    import os

    if os.geteuid() == 0:
        # root writes anywhere: only a file in the way makes the folder unusable.
        (tmp_path / "file").write_text("x")
        settings.BACKUP_DIR = tmp_path / "file" / "backups"
        response = client.get("/healthz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["checks"]["backups"].startswith("not writable: ")


@pytest.mark.django_db
def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.django_db
def test_new_passwords_use_argon2_and_old_hashes_are_upgraded_at_log_in(client, settings):
    # Other fixtures swap in a fast hasher for speed; this test needs the configured list.
    import project.settings as configured

    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS
    assert configured.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    fresh = User.objects.create_user(username="dave", email="dave@example.com", password="a-long-passphrase-1")
    assert fresh.password.startswith("argon2$")
    old = User.objects.create_user(username="erin", email="erin@example.com")
    old.password = make_password("a-long-passphrase-2", hasher="pbkdf2_sha256")
    old.save()
    assert client.login(username="erin", password="a-long-passphrase-2")
    old.refresh_from_db()
    assert old.password.startswith("argon2$")
