"""Load, crash and race scripts against a real gunicorn on a SQLite file.

Each script starts the production server (``gunicorn.conf.py``, DEBUG off) on
a free port on 127.0.0.1 with its own SQLite file in a temporary folder,
drives it with concurrent HTTP clients, checks the database afterwards, prints
a JSON summary and exits non-zero if a promise was broken. The tests run them
in a short form; run them by hand for the long form (``make bench-reliability``).
"""
