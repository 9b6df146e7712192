"""PostgreSQL: a ``tsvector`` column ``posts_post.search_vector`` with a GIN
index, filled by triggers (the username lives in another table, so a
generated column cannot hold it). Created by migration ``posts.0002_post_search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models.expressions import RawSQL

from posts.search.base import SearchBackend, condition, score
from posts.search.parser import ParsedQuery

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# The text a post is indexed by, as the trigger function computes it
# (stemming: "indexes" finds "index"; English stop words).
VECTOR = (
    "setweight(to_tsvector('english', coalesce({p}.title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce((SELECT username FROM users_user WHERE id = {p}.author_id), '')), 'B') || "
    "setweight(to_tsvector('english', coalesce({p}.body, '')), 'D')"
)


def _tsquery_lexeme(word: str, *, prefix: bool = False) -> str:
    return "'" + word.replace("'", "''") + "'" + (":*" if prefix else "")


def tsquery(parsed: ParsedQuery) -> str:
    parts = []
    for term in parsed.terms:
        lexemes = [_tsquery_lexeme(w) for w in term.words[:-1]]
        last = term.words[-1]
        if term.prefix and not term.quoted:
            # The word itself or a word it starts. PostgreSQL stems the
            # prefix as well, so "running:*" alone would miss "running"
            # (indexed as "run"); the whole word finds it.
            lexemes.append(f"({_tsquery_lexeme(last)} | {_tsquery_lexeme(last, prefix=True)})")
        else:
            lexemes.append(_tsquery_lexeme(last, prefix=term.prefix))
        parts.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(parts)


class PostgresBackend(SearchBackend):
    vendor = "postgresql"

    def rebuild_statements(self) -> list[str]:
        return [f"UPDATE posts_post p SET search_vector = {VECTOR.format(p='p')}"]

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'posts_post' AND column_name = 'search_vector'"
            )
            return cursor.fetchone() is not None

    def match_condition(self, parsed: ParsedQuery) -> RawSQL:
        return condition("posts_post.search_vector @@ to_tsquery('english', %s)", [tsquery(parsed)])

    def newest_matches(self, parsed: ParsedQuery, limit: int) -> tuple[str, list]:
        return (
            "SELECT id FROM posts_post WHERE search_vector @@ to_tsquery('english', %s) ORDER BY id DESC LIMIT %s",
            [tsquery(parsed), limit],
        )

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        return score("ts_rank(posts_post.search_vector, to_tsquery('english', %s))", [tsquery(parsed)])

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM posts_post p WHERE p.search_vector IS DISTINCT FROM ({VECTOR.format(p='p')})"
            )
            stale = cursor.fetchone()[0]
        return [f"{stale} post(s) missing from or out of date in the index"] if stale else []
