import os
import runpy

from django.conf import settings

from project.serving import default_workers


def load_conf(monkeypatch, **env):
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
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
