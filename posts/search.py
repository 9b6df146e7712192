"""Full-text search for posts: one interface, one backend per database engine.

Callers (the API's ``?search=``, the admin's search box, the public pages) use
``Post.objects.search(query, order=...)`` or :func:`search_posts_for_admin`;
they never see the engine. Each backend owns:

* the schema it needs (created by migration ``posts.0002_post_search``, re-created
  by ``manage.py rebuild_search_index``):

  - SQLite: an FTS5 table ``posts_post_fts`` (rowid = post id) kept in step by
    triggers on ``posts_post`` and on ``users_user`` (username changes);
  - PostgreSQL: a ``tsvector`` column ``posts_post.search_vector`` with a GIN
    index, filled by triggers (the username lives in another table, so a
    generated column cannot hold it);
  - MariaDB/MySQL: a ``FULLTEXT`` index over title, body and a copy of the
    author's username (``posts_post.search_username``) kept by triggers;

* the translation of a parsed query into that engine's query language. User
  text never reaches the engine's parser as-is: :func:`parse_query` reduces it
  to plain words and phrases, and only those are quoted into the engine's
  syntax, so quotes, operators, ``*``, ``NEAR``, parentheses or NUL in the input
  cannot break a query.

A search considers at most the ``SEARCH_MAX_RESULTS`` (default 1,000) most
recently added matching posts, so the count and the first page cost the same
at a thousand posts as at a million; a more specific query narrows it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections
from django.db.models import BooleanField, FloatField
from django.db.models.expressions import RawSQL

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

# Long enough for any real search, short enough that a pasted page is refused
# with a clear message instead of becoming a huge engine query.
MAX_QUERY_LENGTH = 500
MAX_WORDS = 16
# A short prefix ("th*") expands to many of the most common words, and
# merging their lists costs 200 ms at a million posts; a last word shorter
# than this is searched as a whole word.
MIN_PREFIX_LENGTH = 4
DEFAULT_MAX_RESULTS = 1000

Order = Literal["newest", "relevance"]
ORDERS: tuple[str, ...] = ("newest", "relevance")

FTS_TABLE = "posts_post_fts"
FTS_VOCAB = "posts_post_fts_vocab"


class InvalidSearchQuery(ValueError):
    """The search text cannot be searched; the message is safe to show to the user."""


# --------------------------------------------------------------------------
# Parsing: user text -> words and phrases
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One thing every result must contain: a word, or a phrase in quotes.

    ``prefix``: the last word may be the start of a longer word (the query is
    still being typed).
    """

    words: tuple[str, ...]
    quoted: bool = False
    prefix: bool = False
    # SQLite: the indexed words the prefix stands for (see SqliteBackend.expand_prefixes).
    expansions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
# Letters and digits; everything else (operators, *, parentheses, -, :, _) separates words,
# the way SQLite's unicode61 tokenizer and PostgreSQL's parser split text.
_WORD = re.compile(r"[^\W_]+")
# MariaDB/MySQL's FULLTEXT parser keeps "_" inside words ("john_doe" is one word).
_WORD_WITH_UNDERSCORE = re.compile(r"\w+")


def parse_query(text: str, *, underscore_in_words: bool = False) -> ParsedQuery:
    """Reduce user text to terms: words in any order and "quoted phrases".

    Raises :class:`InvalidSearchQuery` for text that is too long or has too
    many words. Text with no words (``"***"``, ``"()"``) gives an empty query.
    """
    if not isinstance(text, str):
        raise InvalidSearchQuery("The search must be text.")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidSearchQuery(f"The search is too long: at most {MAX_QUERY_LENGTH} characters.")
    # NUL and other control characters are separators, never part of a word.
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text.translate(_QUOTES))
    text = unicodedata.normalize("NFC", text)
    word_re = _WORD_WITH_UNDERSCORE if underscore_in_words else _WORD
    terms: list[Term] = []
    # Split on quotes: odd chunks are inside quotes. An unbalanced quote makes
    # the rest of the text a phrase, as people type it.
    chunks = text.split('"')
    for i, chunk in enumerate(chunks):
        words = [w.casefold() for w in word_re.findall(chunk)]
        if not words:
            continue
        if i % 2 == 1:
            terms.append(Term(words=tuple(words), quoted=True))
        else:
            terms.extend(Term(words=(w,)) for w in words)
    if not terms:
        return ParsedQuery(terms=())
    if sum(len(t.words) for t in terms) > MAX_WORDS:
        raise InvalidSearchQuery(f"The search has too many words: at most {MAX_WORDS}.")
    # Prefix matching on the last word while it is being typed: the text ends
    # inside that word (no space after it), or inside an unclosed phrase.
    last = terms[-1]
    stripped = text.rstrip()
    # "djan*" asks for a prefix explicitly.
    ends_in_word = stripped == text and bool(re.search(r"[^\W_]\**$", text))
    unclosed_phrase = last.quoted and len(chunks) % 2 == 0 and stripped == text
    if (ends_in_word or unclosed_phrase) and len(last.words[-1]) >= MIN_PREFIX_LENGTH:
        terms[-1] = Term(words=last.words, quoted=last.quoted, prefix=True)
    # The same word twice adds nothing but work.
    unique = tuple(dict.fromkeys(terms))
    return ParsedQuery(terms=unique)


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


class SearchBackend:
    vendor = ""
    underscore_in_words = False

    def install_statements(self) -> list[str]:
        raise NotImplementedError

    def uninstall_statements(self) -> list[str]:
        raise NotImplementedError

    def rebuild_statements(self) -> list[str]:
        raise NotImplementedError

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        raise NotImplementedError

    def candidates(self, queryset: QuerySet, parsed: ParsedQuery, limit: int) -> RawSQL | None:
        """SQL selecting the ids of the newest ``limit`` matches, or None when nothing can match."""
        raise NotImplementedError

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        """Relevance of a matching post: higher is better."""
        raise NotImplementedError

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        """Differences between the search index and the posts table (empty when in step)."""
        raise NotImplementedError

    def _wrap_filtered(self, queryset: QuerySet, condition: RawSQL, limit: int) -> RawSQL | None:
        # The queryset already has filters (an author, a date range): the
        # newest `limit` matches are taken among the rows those filters keep.
        # Wrapped in a derived table because MariaDB/MySQL refuse LIMIT directly
        # inside IN (...).
        inner = queryset.filter(condition).order_by("-id").values("id")[:limit]
        try:
            sql, params = inner.query.get_compiler(using=queryset.db).as_sql()
        except EmptyResultSet:  # queryset.none() or a filter that can match nothing
            return None
        return RawSQL(f"SELECT search_candidates.id FROM ({sql}) search_candidates", params)


def _fts5_string(word: str) -> str:
    # Words are letters and digits only (see parse_query); quoting them still
    # makes sure FTS5 never reads AND/OR/NOT/NEAR as operators.
    return '"' + word.replace('"', '""') + '"'


class SqliteBackend(SearchBackend):
    vendor = "sqlite"

    # porter: "indexes", "indexed" and "indexing" all find "index".
    # remove_diacritics 2: "cafe" finds "café".
    TOKENIZE = "porter unicode61 remove_diacritics 2"
    USERNAME = "(SELECT username FROM users_user WHERE id = new.author_id)"

    def install_statements(self) -> list[str]:
        return [
            # A table that stores its own copy of the text (not external
            # content): the username is not a column of posts_post, and a
            # stored copy lets rebuild/check compare index and table exactly.
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, body, username, tokenize = '{self.TOKENIZE}')",
            # The index's word list, for expanding prefixes.
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_VOCAB} USING fts5vocab({FTS_TABLE}, 'row')",
            *self.trigger_statements(),
        ]

    def trigger_statements(self) -> list[str]:
        return [
            f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_insert AFTER INSERT ON posts_post BEGIN
                INSERT INTO {FTS_TABLE}(rowid, title, body, username) VALUES (new.id, new.title, new.body, {self.USERNAME});
            END""",
            f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_delete AFTER DELETE ON posts_post BEGIN
                DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
            END""",
            f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_update AFTER UPDATE OF id, title, body, author_id ON posts_post BEGIN
                DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
                INSERT INTO {FTS_TABLE}(rowid, title, body, username) VALUES (new.id, new.title, new.body, {self.USERNAME});
            END""",
            # Renaming a user re-indexes their posts, through the
            # (author_id, created_at, id) index.
            f"""CREATE TRIGGER IF NOT EXISTS posts_post_search_username AFTER UPDATE OF username ON users_user
            WHEN old.username IS NOT new.username BEGIN
                UPDATE {FTS_TABLE} SET username = new.username
                WHERE rowid IN (SELECT id FROM posts_post WHERE author_id = new.id);
            END""",
        ]

    TRIGGERS = (
        "posts_post_search_insert",
        "posts_post_search_delete",
        "posts_post_search_update",
        "posts_post_search_username",
    )

    def uninstall_statements(self) -> list[str]:
        return [
            *(f"DROP TRIGGER IF EXISTS {name}" for name in self.TRIGGERS),
            f"DROP TABLE IF EXISTS {FTS_VOCAB}",
            f"DROP TABLE IF EXISTS {FTS_TABLE}",
        ]

    def rebuild_statements(self) -> list[str]:
        return [
            # A table rebuilt by a later migration (SQLite's ALTER TABLE copies
            # the table) loses its triggers; put them back first.
            *self.trigger_statements(),
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
        return [name for name in self.TRIGGERS if name not in present]

    @staticmethod
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

    # More indexed words than this under one prefix: FTS5's own prefix query.
    MAX_EXPANSIONS = 50

    def expand_prefixes(self, connection: BaseDatabaseWrapper, parsed: ParsedQuery) -> ParsedQuery:
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
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT term FROM {FTS_VOCAB} WHERE term >= %s AND term < %s LIMIT %s",
                        [prefix, prefix + "\U0010ffff", self.MAX_EXPANSIONS + 1],
                    )
                    found = tuple(row[0] for row in cursor.fetchall())
                if len(found) <= self.MAX_EXPANSIONS:
                    # Always non-empty: the word itself stays in the OR.
                    term = Term(words=term.words, prefix=True, expansions=found or (prefix,))
            terms.append(term)
        return ParsedQuery(terms=tuple(terms))

    def candidate_stats(self, connection: BaseDatabaseWrapper, parsed: ParsedQuery, limit: int) -> tuple[int, int]:
        """(number of candidates, how many post ids they span), from the FTS5 index alone."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), coalesce(max(rowid) - min(rowid) + 1, 0) FROM "
                f"(SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s)",
                [self.match_expression(parsed), limit],
            )
            count, span = cursor.fetchone()
        return count, span

    def count_sql(self, parsed: ParsedQuery, limit: int) -> tuple[str, list]:
        return (
            f"SELECT count(*) FROM (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
            "ORDER BY rowid DESC LIMIT %s)",
            [self.match_expression(parsed), limit],
        )

    def dense_condition(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        # The unary + keeps SQLite from looking the candidates up one by one
        # by id and sorting them; it walks the (created_at DESC, id DESC)
        # index instead, checks each id against the candidate list (the index
        # holds the id) and stops after one page.
        return RawSQL(
            f"+posts_post.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
            "ORDER BY rowid DESC LIMIT %s)",
            [self.match_expression(parsed), limit],
            output_field=BooleanField(),
        )

    def candidates(self, queryset: QuerySet, parsed: ParsedQuery, limit: int) -> RawSQL | None:
        match = self.match_expression(parsed)
        if not queryset.query.where:
            # FTS5 walks its rowids newest first and stops after `limit`
            # matches: the cost does not grow with the number of matches.
            return RawSQL(
                f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s",
                [match, limit],
            )
        condition = RawSQL(
            f"posts_post.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)",
            [match],
            output_field=BooleanField(),
        )
        return self._wrap_filtered(queryset, condition, limit)

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        # bm25 is lower for better matches; negated so that higher is better
        # on every engine. Weights: a word in the title counts 10x one in the
        # body, in the author's name 5x. Scored in the same FTS5 pass that picks
        # the candidates (SQLite materialises it once): probing FTS5 once per
        # row would re-run the MATCH each time.
        return RawSQL(
            f"SELECT c.score FROM (SELECT rowid AS id, -bm25({FTS_TABLE}, 10.0, 1.0, 5.0) AS score FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s) c WHERE c.id = posts_post.id",
            [self.match_expression(parsed), limit],
            output_field=FloatField(),
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


def _fold_diacritics(word: str) -> str:
    # As the unicode61 tokenizer's remove_diacritics does for the indexed words.
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


def _tsquery_lexeme(word: str, *, prefix: bool = False) -> str:
    return "'" + word.replace("'", "''") + "'" + (":*" if prefix else "")


class PostgresBackend(SearchBackend):
    vendor = "postgresql"
    CONFIG = "english"  # stemming ("indexes" finds "index") and English stop words

    VECTOR = (
        "setweight(to_tsvector('english', coalesce({p}.title, '')), 'A') || "
        "setweight(to_tsvector('english', coalesce((SELECT username FROM users_user WHERE id = {p}.author_id), '')), 'B') || "
        "setweight(to_tsvector('english', coalesce({p}.body, '')), 'D')"
    )

    def install_statements(self) -> list[str]:
        return [
            "ALTER TABLE posts_post ADD COLUMN IF NOT EXISTS search_vector tsvector",
            f"""CREATE OR REPLACE FUNCTION posts_post_search_vector() RETURNS trigger AS $$
            BEGIN
                NEW.search_vector := {self.VECTOR.format(p="NEW")};
                RETURN NEW;
            END $$ LANGUAGE plpgsql""",
            # UPDATE OF: saving only updated_at does not re-index the post.
            """CREATE TRIGGER posts_post_search_vector BEFORE INSERT OR UPDATE OF title, body, author_id
            ON posts_post FOR EACH ROW EXECUTE FUNCTION posts_post_search_vector()""",
            # A renamed user: touching author_id fires the trigger above for each of their posts.
            """CREATE OR REPLACE FUNCTION posts_post_search_username() RETURNS trigger AS $$
            BEGIN
                UPDATE posts_post SET author_id = author_id WHERE author_id = NEW.id;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER posts_post_search_username AFTER UPDATE OF username ON users_user
            FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
            EXECUTE FUNCTION posts_post_search_username()""",
            *self.rebuild_statements(),
            "CREATE INDEX IF NOT EXISTS posts_post_search_vector_idx ON posts_post USING gin (search_vector)",
        ]

    def uninstall_statements(self) -> list[str]:
        return [
            "DROP TRIGGER IF EXISTS posts_post_search_username ON users_user",
            "DROP TRIGGER IF EXISTS posts_post_search_vector ON posts_post",
            "DROP FUNCTION IF EXISTS posts_post_search_username()",
            "DROP FUNCTION IF EXISTS posts_post_search_vector()",
            "DROP INDEX IF EXISTS posts_post_search_vector_idx",
            "ALTER TABLE posts_post DROP COLUMN IF EXISTS search_vector",
        ]

    def rebuild_statements(self) -> list[str]:
        return [f"UPDATE posts_post p SET search_vector = {self.VECTOR.format(p='p')}"]

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'posts_post' AND column_name = 'search_vector'"
            )
            return cursor.fetchone() is not None

    @staticmethod
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

    def candidates(self, queryset: QuerySet, parsed: ParsedQuery, limit: int) -> RawSQL | None:
        query = self.tsquery(parsed)
        if not queryset.query.where:
            return RawSQL(
                "SELECT id FROM posts_post WHERE search_vector @@ to_tsquery('english', %s) ORDER BY id DESC LIMIT %s",
                [query, limit],
            )
        condition = RawSQL(
            "posts_post.search_vector @@ to_tsquery('english', %s)", [query], output_field=BooleanField()
        )
        return self._wrap_filtered(queryset, condition, limit)

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        return RawSQL(
            "ts_rank(posts_post.search_vector, to_tsquery('english', %s))",
            [self.tsquery(parsed)],
            output_field=FloatField(),
        )

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM posts_post p WHERE p.search_vector IS DISTINCT FROM ({self.VECTOR.format(p='p')})"
            )
            stale = cursor.fetchone()[0]
        return [f"{stale} post(s) missing from or out of date in the index"] if stale else []


# InnoDB's FULLTEXT index skips words shorter than innodb_ft_min_token_size
# (3 by default, a server-wide setting); such words are matched with REGEXP
# on the rows the index finds.
MYSQL_MIN_TOKEN = 3


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


class MysqlBackend(SearchBackend):
    vendor = "mysql"
    underscore_in_words = True
    COLUMNS = "posts_post.title, posts_post.body, posts_post.search_username"

    def install_statements(self) -> list[str]:
        return [
            "ALTER TABLE posts_post ADD COLUMN search_username varchar(150) NULL",
            """CREATE TRIGGER posts_post_search_insert BEFORE INSERT ON posts_post FOR EACH ROW
            SET NEW.search_username = (SELECT username FROM users_user WHERE id = NEW.author_id)""",
            """CREATE TRIGGER posts_post_search_update BEFORE UPDATE ON posts_post FOR EACH ROW
            BEGIN
                IF NOT (NEW.author_id <=> OLD.author_id) THEN
                    SET NEW.search_username = (SELECT username FROM users_user WHERE id = NEW.author_id);
                END IF;
            END""",
            """CREATE TRIGGER posts_post_search_username AFTER UPDATE ON users_user FOR EACH ROW
            BEGIN
                IF NOT (NEW.username <=> OLD.username) THEN
                    UPDATE posts_post SET search_username = NEW.username WHERE author_id = NEW.id;
                END IF;
            END""",
            *self.rebuild_statements(),
            # Stop words off for this index (the setting is read when the index
            # is created): "the", "about" or "will" are searchable, as on SQLite.
            "SET SESSION innodb_ft_enable_stopword = OFF",
            "ALTER TABLE posts_post ADD FULLTEXT INDEX posts_post_search_ft (title, body, search_username)",
            "SET SESSION innodb_ft_enable_stopword = ON",
        ]

    def uninstall_statements(self) -> list[str]:
        return [
            "DROP TRIGGER IF EXISTS posts_post_search_username",
            "DROP TRIGGER IF EXISTS posts_post_search_update",
            "DROP TRIGGER IF EXISTS posts_post_search_insert",
            "ALTER TABLE posts_post DROP INDEX posts_post_search_ft",
            "ALTER TABLE posts_post DROP COLUMN search_username",
        ]

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

    @staticmethod
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

    def _condition_sql(self, parsed: ParsedQuery) -> tuple[str, list[str]]:
        against, patterns = self.boolean_query(parsed)
        clauses, params = [], []
        if against:
            # "> 0": MATCH returns a relevance, and Django compares a boolean
            # expression with TRUE (1) on MySQL; the index is still used.
            clauses.append(f"MATCH({self.COLUMNS}) AGAINST (%s IN BOOLEAN MODE) > 0")
            params.append(against)
        for pattern in patterns:
            clauses.append(f"CONCAT_WS(' ', {self.COLUMNS}) REGEXP %s")
            params.append(pattern)
        return " AND ".join(clauses), params

    def candidates(self, queryset: QuerySet, parsed: ParsedQuery, limit: int) -> RawSQL | None:
        sql, params = self._condition_sql(parsed)
        if not queryset.query.where:
            return RawSQL(
                f"SELECT search_candidates.id FROM (SELECT id FROM posts_post WHERE {sql} "
                "ORDER BY id DESC LIMIT %s) search_candidates",
                [*params, limit],
            )
        return self._wrap_filtered(queryset, RawSQL(sql, params, output_field=BooleanField()), limit)

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        against, _ = self.boolean_query(parsed)
        # InnoDB's relevance has no column weights; a match in the title adds
        # a bonus, as the title weighs most on the other engines.
        words = "|".join(w for term in parsed.terms for w in term.words)
        in_title = rf"(?i)\b({words})"
        if not against:
            return RawSQL("(posts_post.title REGEXP %s)", [in_title], output_field=FloatField())
        return RawSQL(
            f"(MATCH({self.COLUMNS}) AGAINST (%s IN BOOLEAN MODE) + 10 * (posts_post.title REGEXP %s))",
            [against, in_title],
            output_field=FloatField(),
        )

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM posts_post p JOIN users_user u ON u.id = p.author_id "
                "WHERE NOT (p.search_username <=> u.username)"
            )
            stale = cursor.fetchone()[0]
        return [f"{stale} post(s) missing from or out of date in the index"] if stale else []


BACKENDS: dict[str, SearchBackend] = {
    backend.vendor: backend for backend in (SqliteBackend(), PostgresBackend(), MysqlBackend())
}


def backend_for(connection: BaseDatabaseWrapper) -> SearchBackend:
    try:
        return BACKENDS[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"Post search does not support the {connection.vendor!r} database.") from None


# --------------------------------------------------------------------------
# The interface callers use
# --------------------------------------------------------------------------


def max_results() -> int:
    return int(getattr(settings, "SEARCH_MAX_RESULTS", DEFAULT_MAX_RESULTS))


def search_posts(queryset: QuerySet, query: str, *, order: Order = "newest") -> QuerySet:
    """Posts of ``queryset`` matching ``query`` (title, body or author's username).

    ``order="newest"`` (default): newest first, ties broken by id.
    ``order="relevance"``: best match first (a word in the title weighs most),
    then newest. Annotates ``search_rank`` in that case.

    At most ``SEARCH_MAX_RESULTS`` of the most recently added matching posts are
    returned. Raises :class:`InvalidSearchQuery` for text that cannot be
    searched (too long, too many words) or an unknown ``order``; text without
    any word gives no posts.
    """
    if order not in ORDERS:
        raise InvalidSearchQuery(f"Unknown order {order!r}: use one of {', '.join(ORDERS)}.")
    if queryset.query.is_sliced:
        raise TypeError("Cannot search a sliced queryset.")
    backend = backend_for(connections[queryset.db])
    parsed = parse_query(query, underscore_in_words=backend.underscore_in_words)
    if not parsed:
        return queryset.none()
    if isinstance(backend, SqliteBackend):
        parsed = backend.expand_prefixes(connections[queryset.db], parsed)
    limit = max_results()
    if isinstance(backend, SqliteBackend) and not queryset.query.where:
        return _search_sqlite_unfiltered(queryset, backend, parsed, order, limit)
    candidates = backend.candidates(queryset, parsed, limit)
    if candidates is None:
        return queryset.none()
    results = queryset.filter(id__in=candidates)
    if order == "relevance":
        return results.annotate(search_rank=backend.rank(parsed, limit)).order_by("-search_rank", "-created_at", "-id")
    return results.order_by("-created_at", "-id")


# Candidates spread over at most this many times their number of posts are
# "dense": a page is found by walking the newest-first index (a 10% word
# needs ~10 index entries per result) rather than by sorting every candidate.
DENSE_SPAN_FACTOR = 20


def _search_sqlite_unfiltered(
    queryset: QuerySet, backend: SqliteBackend, parsed: ParsedQuery, order: str, limit: int
) -> QuerySet:
    count, span = backend.candidate_stats(connections[queryset.db], parsed, limit)
    if count == 0:
        return queryset.none()
    if order == "newest" and count == limit and span <= DENSE_SPAN_FACTOR * limit:
        results = queryset.filter(backend.dense_condition(parsed, limit)).order_by("-created_at", "-id")
    else:
        results = queryset.filter(id__in=backend.candidates(queryset, parsed, limit))
        if order == "relevance":
            results = results.annotate(search_rank=backend.rank(parsed, limit))
            results = results.order_by("-search_rank", "-created_at", "-id")
        else:
            results = results.order_by("-created_at", "-id")
    # Query.clone() copies attributes, so later clones (order_by, slicing,
    # select_related) carry this; fast_count() checks the filters are unchanged.
    results.query.search_count = (*backend.count_sql(parsed, limit), results.query.where)
    return results


def fast_count(queryset: QuerySet) -> int | None:
    """The number of results of an unfiltered SQLite search, from the FTS5 index
    alone (no row lookups); None when the queryset is not such a search."""
    info = getattr(queryset.query, "search_count", None)
    if info is None:
        return None
    sql, params, where = info
    query = queryset.query
    if query.is_sliced or query.distinct or query.group_by is not None or query.combinator or query.where != where:
        return None
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def search_posts_for_admin(queryset: QuerySet, term: str) -> tuple[QuerySet, bool]:
    """For ``ModelAdmin.get_search_results``: ``(queryset, may_have_duplicates)``.

    A blank search box shows every post; otherwise the results are ordered
    newest first unless the admin's own sorting (``?o=``) re-orders them.
    Raises :class:`InvalidSearchQuery`, which the admin shows as a message.
    """
    if not term or not term.strip():
        return queryset, False
    return search_posts(queryset, term), False


def rebuild_index(using: str) -> None:
    """Re-create the triggers where they can go missing and re-index every post."""
    connection = connections[using]
    backend = backend_for(connection)
    if not backend.is_installed(connection):
        raise RuntimeError("The search index does not exist; run `manage.py migrate posts` first.")
    with connection.cursor() as cursor:
        for statement in backend.rebuild_statements():
            cursor.execute(statement)


def index_problems(using: str) -> list[str]:
    """How the search index differs from the posts table; empty when they agree."""
    connection = connections[using]
    backend = backend_for(connection)
    if not backend.is_installed(connection):
        return ["the search index does not exist"]
    return backend.index_problems(connection)
