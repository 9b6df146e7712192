"""MariaDB/MySQL: a ``FULLTEXT`` index over title, body and a copy of the
author's username (``posts_post.search_username``) kept by triggers. Created
by migration ``posts.0002_post_search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections
from django.db.models.expressions import RawSQL

from posts.search.base import Order, SearchBackend, SearchResults, condition, score
from posts.search.parser import ParsedQuery

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

# InnoDB's FULLTEXT index skips words shorter than innodb_ft_min_token_size
# (3 by default, a server-wide setting); such words are matched with REGEXP
# on the rows the index finds.
MYSQL_MIN_TOKEN = 3
COLUMNS = "posts_post.title, posts_post.body, posts_post.search_username"


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


def boolean_query(parsed: ParsedQuery) -> tuple[str, list[str]]:
    """The AGAINST(... IN BOOLEAN MODE) text, and REGEXP patterns the row must also match."""
    required: list[str] = []
    patterns: list[str] = []
    for term in parsed.terms:
        if not term.quoted and len(term.words) == 1:
            word = term.words[0]
            if term.prefix:
                # A word it starts, or one of the word's own forms.
                required.append("+(" + " ".join([*_word_forms(word), f"{word}*"]) + ")")
            elif len(word) > MYSQL_MIN_TOKEN:
                required.append("+(" + " ".join(_word_forms(word)) + ")")
            elif len(word) == MYSQL_MIN_TOKEN:
                required.append(f"+{word}")
            else:
                patterns.append(rf"(?i)\b{word}\b")
            continue
        # A phrase: the index narrows on its long words, the REGEXP checks
        # that the words are adjacent and in order.
        for i, word in enumerate(term.words):
            last = i == len(term.words) - 1
            if last and term.prefix:
                required.append(f"+{word}*")
            elif len(word) >= MYSQL_MIN_TOKEN:
                required.append(f"+{word}")
        pattern = r"\W+".join(term.words)
        patterns.append(rf"(?i)\b{pattern}" + ("" if term.prefix else r"\b"))
    return " ".join(required), patterns


def _condition_sql(parsed: ParsedQuery) -> tuple[str, list[str]]:
    against, patterns = boolean_query(parsed)
    clauses, params = [], []
    if against:
        # "> 0": MATCH returns a relevance, and Django compares a boolean
        # expression with TRUE (1) on MySQL; the index is still used.
        clauses.append(f"MATCH({COLUMNS}) AGAINST (%s IN BOOLEAN MODE) > 0")
        params.append(against)
    for pattern in patterns:
        clauses.append(f"CONCAT_WS(' ', {COLUMNS}) REGEXP %s")
        params.append(pattern)
    return " AND ".join(clauses), params


class MysqlBackend(SearchBackend):
    vendor = "mysql"
    underscore_in_words = True

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
        return condition(*_condition_sql(parsed))

    def newest_matches(self, parsed: ParsedQuery, limit: int) -> tuple[str, list]:
        sql, params = _condition_sql(parsed)
        # A derived table: MariaDB/MySQL refuse LIMIT directly inside IN (...).
        return (
            f"SELECT search_candidates.id FROM (SELECT id FROM posts_post WHERE {sql} "
            "ORDER BY id DESC LIMIT %s) search_candidates",
            [*params, limit],
        )

    def search(
        self, queryset: QuerySet, parsed: ParsedQuery, *, order: Order, limit: int, all_posts: bool
    ) -> SearchResults:
        if not all_posts:
            return super().search(queryset, parsed, order=order, limit=limit, all_posts=all_posts)
        # The newest matches are read once, as ids. InnoDB's FULLTEXT index
        # hands back every match, each looked up in the table before the sort
        # keeps ``limit`` of them: seconds for a word in a tenth of a million
        # posts. Counting the candidates and then selecting the page by the
        # same subquery (the other engines' way, cheap there) did it twice.
        sql, params = self.newest_matches(parsed, limit)
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
        return self.results_of(queryset, ids, parsed, order, limit)

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        against, _ = boolean_query(parsed)
        # InnoDB's relevance has no column weights; a match in the title adds
        # a bonus, as the title weighs most on the other engines.
        words = "|".join(w for term in parsed.terms for w in term.words)
        in_title = rf"(?i)\b({words})"
        if not against:
            return score("(posts_post.title REGEXP %s)", [in_title])
        return score(
            f"(MATCH({COLUMNS}) AGAINST (%s IN BOOLEAN MODE) + 10 * (posts_post.title REGEXP %s))", [against, in_title]
        )

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM posts_post p JOIN users_user u ON u.id = p.author_id "
                "WHERE NOT (p.search_username <=> u.username)"
            )
            stale = cursor.fetchone()[0]
        return [f"{stale} post(s) missing from or out of date in the index"] if stale else []
