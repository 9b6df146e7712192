"""The load, crash and race scripts in their short form: real gunicorn (two
worker processes), a SQLite file in a temporary folder, real HTTP. Their long
form (the figures in docs/reliability.md) is `make bench-reliability`."""

import json
import subprocess
import sys

from django.conf import settings


def run_script(name, *args):
    result = subprocess.run(
        [sys.executable, "-m", f"tools.reliability.{name}", "--workers", "2", *args],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
    )
    start = result.stdout.find("{")
    assert start >= 0, f"no summary; stderr: {result.stderr[-2000:]}"
    summary = json.loads(result.stdout[start:])
    assert result.returncode == (0 if summary["ok"] else 1)
    return summary


def test_load_short_form_loses_nothing_and_never_locks():
    summary = run_script("load", "--writers", "8", "--readers", "2", "--duration", "3")
    assert summary["failures"] == []
    assert summary["server_errors"] == 0
    assert summary["database_is_locked"] == 0
    assert summary["database_is_locked_in_server_log"] == 0
    assert summary["created_201"] > 0
    assert summary["posts_in_database"] == summary["created_201"]
    assert summary["integrity_check"] == "ok"


def test_crash_short_form_keeps_every_acknowledged_post():
    summary = run_script("crash", "--cycles", "3", "--writers", "4", "--max-run", "1.0", "--seed", "7")
    assert summary["failures"] == [], (summary["statuses"], summary["server_log_errors"])
    assert summary["acknowledged"] > 0
    assert summary["missing_acknowledged"] == 0
    assert summary["integrity_check"] == "ok"
    assert summary["foreign_key_violations"] == 0
    assert summary["list_after_restart"] == 200


def test_race_short_form_one_signup_wins_and_the_lockout_holds_across_processes():
    summary = run_script("race", "--clients", "20")
    assert summary["failures"] == []
    assert summary["signup_statuses"]["201"] == 1
    assert summary["signup_rows"] == 1
    assert "500" not in summary["signup_statuses"]
    assert summary["token_statuses"].get("400", 0) <= 5
    assert summary["token_statuses"]["429"] >= 15
