import os
import runpy

import pytest
from django.conf import settings

from project.serving import default_workers


def load_conf(monkeypatch, **env):
    # Set, then removed: monkeypatch then also removes what the env file adds.
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT", "HOST", "PORT"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("ENV_FILE", str(settings.BASE_DIR / "var" / "no-such.env"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))


def test_default_worker_model_is_sync_workers_from_the_core_count(monkeypatch):
    conf = load_conf(monkeypatch)
    assert conf["workers"] == default_workers() == 2 * len(os.sched_getaffinity(0)) + 1
    assert conf["threads"] == 1
    assert conf["worker_class"] == "sync"
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["accesslog"] is None  # the app logs each request itself


def test_worker_model_from_the_environment(monkeypatch):
    conf = load_conf(monkeypatch, WEB_CONCURRENCY="3", WEB_THREADS="4", HOST="0.0.0.0", PORT="9001")  # noqa: S104
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (3, 4, "gthread")
    assert conf["bind"] == ["0.0.0.0:9001"]


def test_worker_timeout_from_the_environment_and_a_typo_stops_the_start(monkeypatch):
    assert load_conf(monkeypatch)["timeout"] == 30
    assert load_conf(monkeypatch, WEB_TIMEOUT="12")["timeout"] == 12
    # One line, not gunicorn's "Failed to read config file" and a traceback.
    with pytest.raises(SystemExit, match=r"^Cannot start: WEB_TIMEOUT='soon' is not a whole number"):
        load_conf(monkeypatch, WEB_TIMEOUT="soon")


def test_the_env_file_sets_the_worker_model_too(monkeypatch, tmp_path):
    # As the settings read it: the checks and the server must agree on the worker count.
    env_file = tmp_path / "project.env"
    env_file.write_text("WEB_CONCURRENCY=3\nWEB_THREADS=2\n")
    conf = load_conf(monkeypatch, ENV_FILE=str(env_file))
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (3, 2, "gthread")
    conf = load_conf(monkeypatch, ENV_FILE=str(env_file), WEB_CONCURRENCY="4")
    assert conf["workers"] == 4  # the environment wins over the file
