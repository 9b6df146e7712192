"""Make sure an administrator login exists, and say how to use it.

Used by ``make run`` for local development: the first run creates the account
with ``ADMIN_PASSWORD`` or a random password and keeps the login in a file
readable by the owner only, so later runs can print it again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create the administrator account if it does not exist, and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@example.com")
        parser.add_argument(
            "--credentials-file",
            default=str(settings.VAR_DIR / "admin-login.txt"),
            help="Where the generated login is kept (mode 0600).",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/", help="Admin URL to print.")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        username = options["username"]
        path = Path(options["credentials_file"])
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email=options["email"], password=password)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(f"{username}\n{password}\n")
            except OSError as exc:
                raise CommandError(f"Created {username!r} but could not write {path}: {exc}") from exc
            self.stdout.write(self.style.SUCCESS(f"Created the administrator {username!r}."))
        else:
            password = self._stored_password(path, user)
            if password is None:
                self.stdout.write(
                    f"The administrator {user.username!r} exists; its password is not known here "
                    f"(set a new one with: python manage.py changepassword {user.username})."
                )
                return
        self.stdout.write(f"Admin: {options['url']}  username: {username}  password: {password}")

    @staticmethod
    def _stored_password(path: Path, user) -> str | None:
        try:
            stored_username, password = path.read_text().splitlines()[:2]
        except (OSError, ValueError):
            return None
        if stored_username.lower() != user.username.lower() or not user.check_password(password):
            return None  # changed since: do not print a stale password
        return password
