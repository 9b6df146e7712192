"""SQLite: an FTS5 table ``posts_post_fts`` (rowid = post id) holding its own
copy of each post's title, body and author's username, kept in step by
triggers on ``posts_post`` and on ``users_user`` (username changes).

The table and triggers are created by migration ``posts.0002_post_search``.
The trigger definitions below are today's, used only to repair a database
that lost them (``manage.py rebuild_search_index``); a change to them is a
new migration, and a test holds the migrated database equal to them.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections
from django.db.models.expressions import RawSQL

from posts.search.base import Order, SearchBackend, SearchResults, condition, score
from posts.search.parser import ParsedQuery, Term

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

FTS_TABLE = "posts_post_fts"
FTS_VOCAB = "posts_post_fts_vocab"
# One row per occurrence of a word (migration 0005): its first row comes without reading the rest.
FTS_WORDS = "posts_post_fts_words"
USERNAME = "(SELECT username FROM users_user WHERE id = new.author_id)"

TRIGGERS = {
    "posts_post_search_insert": f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_insert AFTER INSERT ON posts_post BEGIN
                INSERT INTO {FTS_TABLE}(rowid, title, body, username) VALUES (new.id, new.title, new.body, {USERNAME});
            END""",
    "posts_post_search_delete": f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_delete AFTER DELETE ON posts_post BEGIN
                DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
            END""",
    "posts_post_search_update": f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_update AFTER UPDATE OF id, title, body, author_id ON posts_post BEGIN
                DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
                INSERT INTO {FTS_TABLE}(rowid, title, body, username) VALUES (new.id, new.title, new.body, {USERNAME});
            END""",
    # Renaming a user re-indexes their posts, through the (author_id, created_at, id) index.
    "posts_post_search_username": f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_username AFTER UPDATE OF username ON users_user
            WHEN old.username IS NOT new.username BEGIN
                UPDATE {FTS_TABLE} SET username = new.username
                WHERE rowid IN (SELECT id FROM posts_post WHERE author_id = new.id);
            END""",
}

# Candidates spread over at most this many times their number of posts are
# "dense": a page is found by walking the newest-first index (a 10% word
# needs ~10 index entries per result) rather than by sorting every candidate.
DENSE_SPAN_FACTOR = 20
# More indexed words than this under one prefix: FTS5's own prefix query.
MAX_EXPANSIONS = 50


def _fts5_string(word: str) -> str:
    # Words are letters and digits only (see parse_query); quoting them still
    # makes sure FTS5 never reads AND/OR/NOT/NEAR as operators.
    return '"' + word.replace('"', '""') + '"'


def _fold_diacritics(word: str) -> str:
    # As the unicode61 tokenizer's remove_diacritics does for the indexed words.
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


def match_expression(parsed: ParsedQuery) -> str:
    parts = []
    for term in parsed.terms:
        phrase = '"' + " ".join(term.words) + '"'
        if not term.prefix:
            parts.append(phrase)
        elif term.quoted:
            parts.append(phrase + " *")
        elif term.expansions:
            # The word itself (stemmed: "running" finds "run") or one of
            # the indexed words it starts.
            others = [_fts5_string(t) for t in term.expansions if t != term.words[0]]
            parts.append("(" + " OR ".join([phrase, *others]) + ")" if others else phrase)
        else:
            parts.append(f"({phrase} OR {phrase} *)")
    return " AND ".join(parts)


class SqliteBackend(SearchBackend):
    vendor = "sqlite"

    def rebuild_statements(self) -> list[str]:
        return [
            # A table rebuilt outside the migrations (SQLite's ALTER TABLE copies
            # the table) loses its triggers; put them back first.
            *TRIGGERS.values(),
            f"DELETE FROM {FTS_TABLE}",
            f"""INSERT INTO {FTS_TABLE}(rowid, title, body, username)
                SELECT p.id, p.title, p.body, u.username FROM posts_post p JOIN users_user u ON u.id = p.author_id""",
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')",
        ]

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = %s", [FTS_TABLE])
            return cursor.fetchone() is not None

    def missing_triggers(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            present = {row[0] for row in cursor.fetchall()}
        return [name for name in TRIGGERS if name not in present]

    def prepare(self, connection: BaseDatabaseWrapper, parsed: ParsedQuery) -> ParsedQuery:
        """Replace a prefix by the indexed words it starts, read from the index's vocabulary.

        FTS5 answers a prefix query by merging the lists of every word with
        that prefix in full before returning a row (12 ms for a word in 10%
        of a million posts); an OR of exact words is read lazily, newest
        first, and stops after the candidates. Prefixes are not stemmed by
        FTS5 either, so the expansion matches exactly what ``word*`` would.
        """
        terms = []
        for term in parsed.terms:
            if term.prefix and not term.quoted:
                prefix = _fold_diacritics(term.words[0])
                found = self.words_starting(connection, prefix, MAX_EXPANSIONS + 1)
                if len(found) <= MAX_EXPANSIONS:
                    # Always non-empty: the word itself stays in the OR.
                    term = Term(words=term.words, prefix=True, expansions=found or (prefix,))
            terms.append(term)
        return ParsedQuery(terms=tuple(terms))

    def words_starting(self, connection: BaseDatabaseWrapper, prefix: str, limit: int) -> tuple[str, ...]:
        """The first ``limit`` indexed words (in byte order) that start with ``prefix``.

        Word by word, from one occurrence to the next word: the first row of
        the occurrence view at or after a point is one index seek, and
        ``|| char(1)`` is the point just after a word (indexed words hold no
        control characters). The ``row`` view would count each word's posts
        first, reading the whole list of a frequent word (14 ms for one in
        11% of a million posts, against 0.3 ms this way).
        """
        with connection.cursor() as cursor:
            cursor.execute(
                f"""WITH RECURSIVE words(term) AS (
                    SELECT (SELECT term FROM {FTS_WORDS} WHERE term >= %s AND term < %s LIMIT 1)
                    UNION ALL
                    SELECT (SELECT term FROM {FTS_WORDS} WHERE term >= words.term || char(1) AND term < %s LIMIT 1)
                    FROM words WHERE words.term IS NOT NULL LIMIT %s
                ) SELECT term FROM words WHERE term IS NOT NULL""",
                [prefix, prefix + "\U0010ffff", prefix + "\U0010ffff", limit],
            )
            return tuple(row[0] for row in cursor.fetchall())

    def match_condition(self, parsed: ParsedQuery) -> RawSQL:
        return condition(
            f"posts_post.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)", [match_expression(parsed)]
        )

    def newest_matches(self, parsed: ParsedQuery, limit: int) -> tuple[str, list]:
        # FTS5 walks its rowids newest first and stops after `limit`
        # matches: the cost does not grow with the number of matches.
        return (
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s",
            [match_expression(parsed), limit],
        )

    def search(
        self, queryset: QuerySet, parsed: ParsedQuery, *, order: Order, limit: int, all_posts: bool
    ) -> SearchResults:
        if not all_posts:
            return super().search(queryset, parsed, order=order, limit=limit, all_posts=False)
        count, span = self._candidate_stats(connections[queryset.db], parsed, limit)
        if count == 0:
            return SearchResults(queryset.none(), known_count=0)
        if order == "newest" and count == limit and span <= DENSE_SPAN_FACTOR * limit:
            results = queryset.filter(self._dense_condition(parsed, limit)).order_by("-created_at", "-id")
        else:
            results = self.ordered(
                queryset.filter(id__in=RawSQL(*self.newest_matches(parsed, limit))), parsed, order, limit
            )
        # The index counted the candidates: no COUNT over the posts table.
        return SearchResults(results, known_count=count)

    def _candidate_stats(self, connection: BaseDatabaseWrapper, parsed: ParsedQuery, limit: int) -> tuple[int, int]:
        """(number of candidates, how many post ids they span), from the FTS5 index alone."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), coalesce(max(rowid) - min(rowid) + 1, 0) FROM "
                f"(SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s)",
                [match_expression(parsed), limit],
            )
            count, span = cursor.fetchone()
        return count, span

    def _dense_condition(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        # The unary + keeps SQLite from looking the candidates up one by one
        # by id and sorting them; it walks the (created_at DESC, id DESC)
        # index instead, checks each id against the candidate list (the index
        # holds the id) and stops after one page.
        return condition(
            f"+posts_post.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
            "ORDER BY rowid DESC LIMIT %s)",
            [match_expression(parsed), limit],
        )

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        # bm25 is lower for better matches; negated so that higher is better
        # on every engine. Weights: a word in the title counts 10x one in the
        # body, in the author's name 5x. Scored in the same FTS5 pass that picks
        # the candidates (SQLite materialises it once): probing FTS5 once per
        # row would re-run the MATCH each time.
        return score(
            f"SELECT c.score FROM (SELECT rowid AS id, -bm25({FTS_TABLE}, 10.0, 1.0, 5.0) AS score FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s) c WHERE c.id = posts_post.id",
            [match_expression(parsed), limit],
        )

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        problems = [f"trigger {name} is missing" for name in self.missing_triggers(connection)]
        with connection.cursor() as cursor:
            # FTS5's own consistency check of its index structures.
            try:
                cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 0)")
            except DatabaseError as exc:
                problems.append(f"FTS5 integrity check failed: {exc}")
            cursor.execute(
                f"""SELECT count(*) FROM posts_post p JOIN users_user u ON u.id = p.author_id
                LEFT JOIN {FTS_TABLE} f ON f.rowid = p.id
                WHERE f.rowid IS NULL OR f.title IS NOT p.title OR f.body IS NOT p.body OR f.username IS NOT u.username"""
            )
            stale = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {FTS_TABLE} WHERE rowid NOT IN (SELECT id FROM posts_post)")
            orphans = cursor.fetchone()[0]
        if stale:
            problems.append(f"{stale} post(s) missing from or out of date in the index")
        if orphans:
            problems.append(f"{orphans} indexed row(s) whose post no longer exists")
        return problems
