"""Read settings from the environment, failing loudly on a bad value.

A typo in an environment variable must stop the process at start-up with a
message naming the variable, not silently fall back to a default
(``DEBUG=flase`` must not mean "debug on" or "debug off" by accident).

Our own helpers rather than django-environ: its ``bool`` reads any unknown
word (``flase``) as False, silently, and a few typed readers are all the
settings need.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip()
    normalised = value.upper()
    if normalised not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
    return normalised


def load_env_file(path: os.PathLike | str) -> None:
    """Read ``KEY=VALUE`` lines from a ``.env`` file into ``os.environ``.

    Variables already set in the environment win, so a deployment's real
    environment is never overridden by a file left on disk. Blank lines and
    ``#`` comments are skipped; values may be wrapped in single or double quotes.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        return
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def load_project_env(base_dir: os.PathLike | str) -> None:
    """The project's env file, ``ENV_FILE`` or ``<base_dir>/.env``, as the settings read it.

    Also for what reads the environment before (or without) the settings:
    gunicorn.conf.py and the Makefile's driver step see the same variables.
    """
    load_env_file(env_str("ENV_FILE", os.path.join(base_dir, ".env")) or "")


RATE_PERIODS = frozenset({"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"})


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as ``120/minute``; a typo stops start-up instead of failing each request."""
    value = (env_str(name, default) or "").strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or period not in RATE_PERIODS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 120/minute (per second, minute, hour or day).")
    return value


_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def env_bytes(name: str, default: int, *, minimum: int | None = None) -> int:
    """A size in bytes: ``2621440``, ``5MB`` (10^6) or ``5MiB`` (2^20); KB/KiB and GB/GiB likewise."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    text = value.strip().replace(" ", "")
    digits = text.rstrip("BbIiKkMmGg")
    unit = text[len(digits) :].upper()
    if not digits.isdigit() or unit not in _BYTE_UNITS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a size in bytes (e.g. 2621440, 5MB or 5MiB).")
    number = int(digits) * _BYTE_UNITS[unit]
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} is below the minimum of {minimum} bytes.")
    return number
