"""MariaDB/MySQL: a ``FULLTEXT`` index over title, body and a copy of the
author's username (``posts_post.search_username``) kept by triggers. Created
by migration ``posts.0002_post_search``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.db import connections
from django.db.models.expressions import RawSQL

from posts.search.base import Order, SearchBackend, SearchResults, condition, score
from posts.search.parser import ParsedQuery, Term

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

# InnoDB's FULLTEXT index holds words of innodb_ft_min_token_size (3 by
# default) to innodb_ft_max_token_size (84) characters, server-wide settings;
# a word outside them is found by its REGEXP alone.
MYSQL_MIN_TOKEN = 3
MYSQL_MAX_TOKEN = 84
COLUMNS = "posts_post.title, posts_post.body, posts_post.search_username"
ROW_TEXT = f"CONCAT_WS(' ', {COLUMNS})"


def _word_forms(word: str) -> list[str]:
    """MariaDB's FULLTEXT has no stemming: a word stands for its common English
    forms ("indexing" -> index, indexes, indexed, indexing), matched exactly."""
    stem = word
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            stem = word[: -len(suffix)]
            break
    forms = [stem, stem + "s", stem + "es", stem + "ed", stem + "ing", word]
    if word.endswith("ies") or stem.endswith("y"):
        base = stem[:-1] if stem.endswith("y") else stem
        forms += [base + "y", base + "ies", base + "ied"]
    return list(dict.fromkeys(forms))


def _indexed(word: str) -> bool:
    return MYSQL_MIN_TOKEN <= len(word) <= MYSQL_MAX_TOKEN


def _term_against(term: Term) -> list[str]:
    """The term's part of the AGAINST(... IN BOOLEAN MODE) text: what narrows it in the index."""
    if not term.quoted and len(term.words) == 1:
        word = term.words[0]
        if term.prefix:
            # A word it starts, or one of the word's own forms.
            return ["+(" + " ".join([*_word_forms(word), f"{word}*"]) + ")"]
        if len(word) > MYSQL_MIN_TOKEN and _indexed(word):
            return ["+(" + " ".join(_word_forms(word)) + ")"]
        return [f"+{word}"] if _indexed(word) else []
    # A phrase: the index narrows on its words; the REGEXP checks that they
    # are adjacent and in order.
    last = len(term.words) - 1
    return [
        f"+{word}*" if i == last and term.prefix else f"+{word}" for i, word in enumerate(term.words) if _indexed(word)
    ]


def _term_pattern(term: Term) -> str:
    """A REGEXP that a post's text matches when it holds the term: the rule
    itself, row by row (the index only finds candidates)."""
    words = [re.escape(word) for word in term.words]
    if not term.quoted and len(words) == 1:
        forms = [re.escape(form) for form in _word_forms(term.words[0])] if len(words[0]) > MYSQL_MIN_TOKEN else words
        alternatives = [*forms, words[0] + r"\w*"] if term.prefix else forms
        return r"(?i)\b(?:" + "|".join(alternatives) + r")\b"
    pattern = r"\W+".join(words)
    return rf"(?i)\b{pattern}" + (r"\w*\b" if term.prefix else r"\b")


def boolean_query(parsed: ParsedQuery) -> str:
    """The AGAINST(... IN BOOLEAN MODE) text (empty when no word is in the index)."""
    return " ".join(part for term in parsed.terms for part in _term_against(term))


def _rows_sql(parsed: ParsedQuery) -> tuple[str, list[str]]:
    """The match condition on each row: every term's REGEXP."""
    patterns = [_term_pattern(term) for term in parsed.terms]
    return " AND ".join(f"{ROW_TEXT} REGEXP %s" for _ in patterns), patterns


def _index_sql(parsed: ParsedQuery, narrowing: tuple[Term, ...] = ()) -> tuple[str, list[str]]:
    """The match condition with the FULLTEXT index finding the candidates.

    ``narrowing``: the terms the index looks up (default: all). Each word the
    index looks up costs a pass over its whole list of matches, so a frequent
    word beside a rare one is better left to its REGEXP."""
    sql, params = _rows_sql(parsed)
    against = boolean_query(ParsedQuery(narrowing)) or boolean_query(parsed)
    if not against:
        return sql, params
    # "> 0" on its own: MariaDB then reads the candidates from the index.
    # Compared with TRUE, as Django writes a boolean filter, it is worked out
    # row by row instead, after the index has listed every match anyway.
    return f"MATCH({COLUMNS}) AGAINST (%s IN BOOLEAN MODE) > 0 AND {sql}", [against, *params]


class MysqlBackend(SearchBackend):
    """InnoDB's FULLTEXT index lists every match of a word before anything
    else happens (about 0.2 s for a word in a tenth of a million posts, and
    a row lookup per match to sort them newest first), and has no way to stop
    early. So a search first reads the newest ``probe_rows`` rows of the list
    and checks each one's text with the terms' REGEXPs (about 2 ms):

    - the list has no more rows, or enough of them match: that is the answer;
    - at least ``dense_from`` of them match: the walk carries on, newest
      first, until ``SEARCH_MAX_RESULTS`` matches (10,000 rows for a word in
      one post in ten);
    - fewer: the index finds the matches, looking up only the terms that are
      rare among those rows (a word in a tenth of the posts beside a rare one
      costs that word's whole list otherwise, 0.1 s at a million).

    The REGEXPs decide on every path, so the answer does not depend on which
    one ran. They match words case-insensitively but accents exactly (as
    PostgreSQL does), where the index alone would fold them.
    """

    vendor = "mysql"
    underscore_in_words = True
    #: The newest rows of a list read to tell a frequent word from a rare one.
    probe_rows = 1000
    #: Matches among them from which the walk is cheaper than the index: a
    #: word in 1% of posts costs about the same either way at a million.
    dense_from = 10
    #: Matches spread over fewer rows than this many times their number are
    #: paged by walking their range (as on SQLite).
    dense_span_factor = 20

    def rebuild_statements(self) -> list[str]:
        return [
            "UPDATE posts_post p JOIN users_user u ON u.id = p.author_id SET p.search_username = u.username "
            "WHERE NOT (p.search_username <=> u.username)"
        ]

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() "
                "AND table_name = 'posts_post' AND column_name = 'search_username'"
            )
            return cursor.fetchone() is not None

    def match_condition(self, parsed: ParsedQuery) -> RawSQL:
        return condition(*_rows_sql(parsed))

    def newest_matches(self, parsed: ParsedQuery, limit: int, narrowing: tuple[Term, ...] = ()) -> tuple[str, list]:
        sql, params = _index_sql(parsed, narrowing)
        # A derived table: MariaDB/MySQL refuse LIMIT directly inside IN (...).
        return (
            f"SELECT search_candidates.id FROM (SELECT id FROM posts_post WHERE {sql} "
            "ORDER BY id DESC LIMIT %s) search_candidates",
            [*params, limit],
        )

    def search(
        self, queryset: QuerySet, parsed: ParsedQuery, *, order: Order, limit: int, all_posts: bool
    ) -> SearchResults:
        # The newest matches are read as ids, once, and their number is the
        # count; the page is then selected by their range or by the ids.
        ids = self.matching_ids(queryset, parsed, limit, all_posts)
        if order == "newest" and ids and ids[0] - ids[-1] < self.dense_span_factor * len(ids):
            # Close together, they are also every match between the oldest and
            # the newest of them: a page is then a walk of the newest-first
            # index over that range, checking rows until it has its 20 (1 ms
            # for a ~10% word), where a page of 1,000 ids reads and sorts them
            # all (12 ms at a million posts).
            between = queryset.filter(self.match_condition(parsed), id__gte=ids[-1], id__lte=ids[0])
            return SearchResults(between.order_by("-created_at", "-id"), known_count=len(ids))
        return self.results_of(queryset, ids, parsed, order, limit)

    def matching_ids(self, queryset: QuerySet, parsed: ParsedQuery, limit: int, all_posts: bool) -> list[int]:
        """The ids of the newest ``limit`` posts of ``queryset`` that match, newest first."""
        newest = queryset.order_by("-id")
        # Each term checked on its own: which ones are rare says what the index should look up.
        checks = {
            f"search_hit_{i}": condition(f"{ROW_TEXT} REGEXP %s", [_term_pattern(term)])
            for i, term in enumerate(parsed.terms)
        }
        probe = list(newest.annotate(**checks).values_list("id", *checks)[: self.probe_rows])
        hits = [row[0] for row in probe if all(row[1:])]
        if len(probe) < self.probe_rows or len(hits) >= limit:
            return hits[:limit]
        matches = self.match_condition(parsed)
        if len(hits) >= self.dense_from:
            walk = newest.filter(matches, id__lt=probe[-1][0]).values_list("id", flat=True)
            return hits + list(walk[: limit - len(hits)])
        rare = tuple(term for i, term in enumerate(parsed.terms) if sum(row[i + 1] for row in probe) < self.dense_from)
        if all_posts:
            sql, params = self.newest_matches(parsed, limit, rare)
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]
        index_sql, index_params = _index_sql(parsed, rare)
        candidates = RawSQL(f"SELECT id FROM posts_post WHERE {index_sql}", index_params)
        return list(newest.filter(id__in=candidates).values_list("id", flat=True)[:limit])

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        # How often the terms occur in the post, plus 10 when one is in the
        # title (it weighs most on the other engines too). Counted with the
        # terms' REGEXPs: every match replaced by two characters, then by one,
        # and the lengths compared. InnoDB's own relevance (MATCH) would list
        # every match of a frequent word in the index first, 0.2 s at a million.
        patterns = [_term_pattern(term) for term in parsed.terms]
        twice = "CHAR_LENGTH(REGEXP_REPLACE({0}, %s, '~~')) - CHAR_LENGTH(REGEXP_REPLACE({0}, %s, '~'))"
        occurrences = " + ".join(twice.format(ROW_TEXT) for _ in patterns)
        in_title = " OR ".join("posts_post.title REGEXP %s" for _ in patterns)
        params = [pattern for pattern in patterns for _ in range(2)]
        return score(f"({occurrences} + 10 * ({in_title}))", [*params, *patterns])

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM posts_post p JOIN users_user u ON u.id = p.author_id "
                "WHERE NOT (p.search_username <=> u.username)"
            )
            stale = cursor.fetchone()[0]
        return [f"{stale} post(s) missing from or out of date in the index"] if stale else []
