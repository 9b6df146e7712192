"""Concurrent sign-ups with one email, through the real WSGI application, on a
real SQLite file: exactly one wins, every other request gets a 400, never a 500."""

import json
import os
import subprocess
import sys
from http import HTTPStatus

from django.conf import settings

RACE = r"""
import json, threading
import django
django.setup()
from django.test import Client
from users.models import User

N = 8
barrier = threading.Barrier(N)
results = []

def sign_up(i):
    client = Client()
    barrier.wait()
    response = client.post(
        "/api/users/",
        {"username": f"racer{i}", "email": "Same@Example.com", "password": "correct-horse-battery-42"},
        content_type="application/json",
    )
    results.append((response.status_code, json.loads(response.content)))

threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"results": results, "users": User.objects.filter(email__iexact="same@example.com").count()}))
"""


def test_concurrent_sign_ups_with_one_email(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/race.sqlite3",
        "ALLOWED_HOSTS": "testserver",
        "CACHE_URL": "locmem://",
        "API_THROTTLE_ANON": "1000/minute",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True, timeout=300
    )
    done = subprocess.run(
        [sys.executable, "-c", RACE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = sorted(status for status, _ in outcome["results"])
    assert statuses == [HTTPStatus.CREATED] + [HTTPStatus.BAD_REQUEST] * 7
    for status, body in outcome["results"]:
        if status == HTTPStatus.BAD_REQUEST:
            assert body["fields"] == {"email": ["A user with that email address already exists."]}
    assert outcome["users"] == 1
