"""Django's SQLite backend on the SQLite library ``dbtools.sqlite`` chose.

``project.db`` selects it (``ENGINE = "dbtools.backends.sqlite3"``) for every
``sqlite://`` DATABASE_URL. ``connection.vendor`` stays ``"sqlite"``.
"""
