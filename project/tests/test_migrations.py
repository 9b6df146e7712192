from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder


def test_models_and_migrations_agree(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_all_migrations_run_backwards_to_zero_and_forwards_again():
    project_tables = {"users_user", "posts_post"}
    call_command("migrate", "users", "zero", verbosity=0)
    assert not project_tables & set(connection.introspection.table_names())
    assert not MigrationRecorder.Migration.objects.filter(app__in=["users", "posts", "admin"]).exists()
    call_command("migrate", verbosity=0)
    assert project_tables <= set(connection.introspection.table_names())
    out = StringIO()
    call_command("showmigrations", "--plan", stdout=out)
    assert "[ ]" not in out.getvalue()
