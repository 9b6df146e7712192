"""Full-text search: the parser, the index staying in step with the table,
the same results for the same queries on every engine, hostile input, the
rebuild command and the engine-specific objects."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.models import Post
from posts.search import (
    MAX_QUERY_LENGTH,
    InvalidSearchQuery,
    Term,
    index_problems,
    parse_query,
    search_posts,
)
from posts.search.mysql import MysqlBackend
from posts.search.sqlite import SqliteBackend
from users.models import User

VENDOR = connection.vendor
only_sqlite = pytest.mark.skipif(VENDOR != "sqlite", reason="FTS5 objects exist on SQLite only")
only_postgres = pytest.mark.skipif(VENDOR != "postgresql", reason="tsvector objects exist on PostgreSQL only")
only_mysql = pytest.mark.skipif(VENDOR != "mysql", reason="FULLTEXT objects exist on MariaDB/MySQL only")
# InnoDB updates a FULLTEXT index at commit: rows written inside the test's
# transaction are invisible to MATCH. On MariaDB/MySQL these tests commit.
search_db = pytest.mark.django_db(transaction=VENDOR == "mysql")


# --------------------------------------------------------------------------
# Parser (no database)
# --------------------------------------------------------------------------


def test_words_in_any_order_and_last_word_is_a_prefix_while_typing():
    assert parse_query("Sqlite backu").terms == (Term(("sqlite",)), Term(("backu",), prefix=True))
    # A space after the last word: the word is complete.
    assert parse_query("sqlite backup ").terms == (Term(("sqlite",)), Term(("backup",)))


def test_short_last_word_is_a_whole_word_not_a_prefix():
    assert parse_query("the").terms == (Term(("the",)),)


def test_explicit_star_asks_for_a_prefix():
    assert parse_query("djan*").terms == (Term(("djan",), prefix=True),)


def test_phrases_in_quotes_and_an_unclosed_phrase_while_typing():
    assert parse_query('"foreign key" vacuum ').terms == (Term(("foreign", "key"), quoted=True), Term(("vacuum",)))
    assert parse_query('"foreign ke').terms == (Term(("foreign", "ke"), quoted=True, prefix=False),)
    assert parse_query('"foreign keyw').terms == (Term(("foreign", "keyw"), quoted=True, prefix=True),)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("NEAR(sqlite, django)", ["near", "sqlite", "django"]),
        ("sqlite AND NOT django OR x", ["sqlite", "and", "not", "django", "or", "x"]),
        ("title:sqlite -django +vacuum ^x", ["title", "sqlite", "django", "vacuum", "x"]),
        ("((sqlite", ["sqlite"]),
        ("sql\x00ite", ["sql", "ite"]),
        ("'; DROP TABLE posts_post; --", ["drop", "table", "posts", "post"]),
    ],
)
def test_operators_and_punctuation_are_only_separators(text, words):
    assert [w for term in parse_query(text).terms for w in term.words] == words


def test_text_without_words_is_an_empty_query():
    assert not parse_query('*** () "" - ^ \x00')


def test_too_long_or_too_many_words_is_a_clear_error():
    with pytest.raises(InvalidSearchQuery, match="too long"):
        parse_query("x" * (MAX_QUERY_LENGTH + 1))
    with pytest.raises(InvalidSearchQuery, match="too many words"):
        parse_query(" ".join(f"w{i}" for i in range(40)))


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture
def alice():
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")


@pytest.fixture
def bob():
    return User.objects.create_user(username="bobby", email="bob@example.com", password="pw-Bob-12345")


def make_post(author, title, body="", *, days_ago=0):
    return Post.objects.create(
        author=author, title=title, body=body or "nothing to see", created_at=timezone.now() - timedelta(days=days_ago)
    )


def ids(queryset):
    return [post.id for post in queryset]


def assert_index_in_step():
    assert index_problems(connection.alias) == []


# --------------------------------------------------------------------------
# The index follows the table
# --------------------------------------------------------------------------


@search_db
def test_index_follows_creates_edits_and_deletes(alice):
    post = make_post(alice, "Vacuum the database", "Reclaim free pages")
    assert ids(Post.objects.search("reclaim ")) == [post.id]
    post.title = "Checkpoint the journal"
    post.body = "Write ahead logging"
    post.save()
    assert_index_in_step()
    assert ids(Post.objects.search("vacuum ")) == []
    assert ids(Post.objects.search("checkpoint ")) == [post.id]
    post.delete()
    assert_index_in_step()
    assert ids(Post.objects.search("checkpoint ")) == []


@search_db
def test_index_follows_bulk_create_queryset_update_and_delete(alice, bob):
    Post.objects.bulk_create(
        [Post(author=alice, title=f"Replica number {i}", body="streaming replication") for i in range(30)]
        + [Post(author=bob, title=f"Backup number {i}", body="online backup") for i in range(20)]
    )
    assert_index_in_step()
    assert Post.objects.search("replica ").count() == 30
    assert Post.objects.search("backup ").count() == 20

    Post.objects.filter(author=bob).update(body="restore drill")
    assert_index_in_step()
    assert Post.objects.search('"online backup"').count() == 0
    assert Post.objects.search("restore drill ").count() == 20

    Post.objects.filter(title__endswith=" 1").delete()
    assert_index_in_step()
    assert Post.objects.search("replica ").count() == 29
    assert Post.objects.search("restore ").count() == 19


@search_db
def test_deleting_a_user_removes_their_posts_from_the_index(alice, bob):
    make_post(alice, "Lock timeout", "busy handler")
    kept = make_post(bob, "Lock escalation", "busy writers")
    alice.delete()
    assert_index_in_step()
    assert ids(Post.objects.search("busy ")) == [kept.id]


@search_db
def test_renaming_a_user_reindexes_their_posts(alice, bob):
    post = make_post(alice, "Schema migration", "on a live table")
    make_post(bob, "Schema migration", "on a live table")
    alice.username = "carolyn"
    alice.save()
    assert_index_in_step()
    assert ids(Post.objects.search("carolyn ")) == [post.id]
    assert ids(Post.objects.search("alice ")) == []
    # Through a queryset update too (no save(), no signals).
    User.objects.filter(pk=alice.pk).update(username="dorothea")
    assert_index_in_step()
    assert ids(Post.objects.search("dorothea ")) == [post.id]


@search_db
def test_moving_a_post_to_another_author_reindexes_the_username(alice, bob):
    post = make_post(alice, "Cursor pagination", "keyset paging")
    post.author = bob
    post.save()
    assert_index_in_step()
    assert ids(Post.objects.search("bobby ")) == [post.id]
    assert ids(Post.objects.search("alice ")) == []


# --------------------------------------------------------------------------
# Behaviour: the same answers on every engine
# --------------------------------------------------------------------------


@pytest.fixture
def corpus(alice, bob):
    return {
        "old_sqlite": make_post(alice, "Tuning sqlite for servers", "journal mode and checkpoint", days_ago=30),
        "new_sqlite": make_post(bob, "Sqlite backups", "the online backup interface", days_ago=1),
        "body_sqlite": make_post(bob, "Database files", "sqlite keeps everything in one file", days_ago=10),
        "foreign": make_post(alice, "Foreign key checks", "every foreign key is deferred", days_ago=5),
        "key_foreign": make_post(bob, "Key of the foreign table", "a key that is foreign", days_ago=3),
        "indexes": make_post(alice, "Covering indexes", "an index per query", days_ago=2),
        "django": make_post(bob, "Django admin", "search box for postgres", days_ago=4),
    }


@search_db
def test_words_match_title_body_or_username_in_any_order(corpus):
    assert ids(Post.objects.search("sqlite ")) == [c.id for c in (corpus["new_sqlite"], corpus["body_sqlite"])] + [
        corpus["old_sqlite"].id
    ]
    assert ids(Post.objects.search("checkpoint sqlite ")) == [corpus["old_sqlite"].id]
    assert ids(Post.objects.search("SQLITE Checkpoint ")) == [corpus["old_sqlite"].id]
    # The author's username is searched too, combined with words from the text.
    assert ids(Post.objects.search("bobby sqlite ")) == [corpus["new_sqlite"].id, corpus["body_sqlite"].id]


@search_db
def test_prefix_on_the_last_word_as_people_type(corpus):
    assert ids(Post.objects.search("djan")) == [corpus["django"].id]
    assert ids(Post.objects.search("sqlite checkp")) == [corpus["old_sqlite"].id]
    # Complete words are not prefixes: "djan " matches no word "djan".
    assert ids(Post.objects.search("djan ")) == []
    # A whole word typed without a space after it still finds its other forms.
    assert ids(Post.objects.search("indexing")) == [corpus["indexes"].id]
    assert ids(Post.objects.search("Covering indexes")) == [corpus["indexes"].id]


@search_db
def test_phrases_need_the_words_together_and_in_order(corpus):
    both = {corpus["foreign"].id, corpus["key_foreign"].id}
    assert set(ids(Post.objects.search("foreign key "))) == both
    assert ids(Post.objects.search('"foreign key"')) == [corpus["foreign"].id]
    assert ids(Post.objects.search('"key foreign"')) == []


@search_db
def test_word_forms_match(corpus):
    # "indexing" finds "indexes" and "index": stemming on SQLite/PostgreSQL, stem + prefix on MariaDB.
    assert ids(Post.objects.search("indexing ")) == [corpus["indexes"].id]


@search_db
def test_newest_first_by_default_and_relevance_on_request(alice, bob):
    in_body = make_post(alice, "Notes", "about vacuum", days_ago=1)
    in_title = make_post(bob, "Vacuum", "reclaiming pages", days_ago=9)
    assert ids(Post.objects.search("vacuum ")) == [in_body.id, in_title.id]
    ranked = list(Post.objects.search("vacuum ", order="relevance"))
    assert [p.id for p in ranked] == [in_title.id, in_body.id]
    assert ranked[0].search_rank > ranked[1].search_rank
    # In the body alone, a post saying it twice ranks above one saying it once.
    twice = make_post(bob, "Notes", "vacuum after vacuum", days_ago=5)
    ranked = list(Post.objects.search("vacuum ", order="relevance"))
    assert [p.id for p in ranked] == [in_title.id, twice.id, in_body.id]


@search_db
def test_search_composes_with_other_filters_and_with_author(corpus, bob, django_assert_num_queries):
    results = Post.objects.by_author(bob).with_author().search("sqlite ")
    # One query for the posts and their authors together.
    with django_assert_num_queries(1):
        rows = [(p.id, p.author.username) for p in results]
    assert rows == [(corpus["new_sqlite"].id, "bobby"), (corpus["body_sqlite"].id, "bobby")]


@search_db
def test_results_are_capped_to_the_newest_matches(alice, settings):
    settings.SEARCH_MAX_RESULTS = 5
    posts = Post.objects.bulk_create(
        [Post(author=alice, title=f"Throughput run {i}", body="numbers") for i in range(8)]
    )
    results = Post.objects.search("throughput ")
    assert results.count() == 5
    newest_ids = sorted(p.id for p in posts)[-5:]
    assert sorted(ids(results)) == newest_ids
    # The cap holds for a filtered search too.
    assert Post.objects.filter(author=alice).search("throughput ").count() == 5


@search_db
def test_unknown_order_is_a_clear_error(corpus):
    with pytest.raises(InvalidSearchQuery, match="Unknown order"):
        Post.objects.search("sqlite", order="oldest")


HOSTILE = [
    '"',
    '"""',
    "'",
    "*",
    "sqlite*",
    "**sqlite",
    "NEAR(sqlite django)",
    "NEAR",
    "AND",
    "sqlite AND",
    "OR OR OR",
    "NOT sqlite",
    "-sqlite",
    "+sqlite",
    "sqlite -",
    "(((sqlite",
    "sqlite)))",
    "title:sqlite",
    "^sqlite",
    "sqlite\x00backup",
    "\x00",
    "%",
    "_",
    "sqlite%' OR '1'='1",
    "'; DROP TABLE posts_post; --",
    "@@",
    "<->",
    "sqlite & | ! :*",
    "\\",
    "😀 sqlite",
    "\u200b",
]


@search_db
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_get_a_normal_answer(corpus, text):
    results = Post.objects.search(text)
    found = ids(results)
    assert results.count() == len(found)
    relevance = Post.objects.search(text, order="relevance")
    assert sorted(ids(relevance)) == sorted(found)
    # Nothing was written or lost on the way.
    assert Post.objects.count() == len(corpus)
    assert_index_in_step()


@search_db
def test_operators_in_user_text_are_plain_words(corpus):
    # "sqlite*" asks for a prefix; "NEAR(...)" is the word "near" plus the others.
    assert set(ids(Post.objects.search("sqlite*"))) == {
        corpus["new_sqlite"].id,
        corpus["body_sqlite"].id,
        corpus["old_sqlite"].id,
    }
    assert ids(Post.objects.search("NEAR(sqlite checkpoint)")) == []
    assert ids(Post.objects.search("(((checkpoint")) == [corpus["old_sqlite"].id]


@search_db
def test_ten_thousand_characters_is_a_clear_error_and_changes_nothing(corpus):
    with pytest.raises(InvalidSearchQuery, match="too long"):
        Post.objects.search("sqlite " * 1500)
    assert Post.objects.count() == len(corpus)


@search_db
@pytest.mark.parametrize("text", ["sqlite ", "checkpoint", "checkp", '"foreign key"', "nothing-matches-this"])
def test_a_search_of_every_post_finds_and_counts_what_the_general_plan_does(corpus, settings, text):
    settings.SEARCH_MAX_RESULTS = 2  # "sqlite" matches more: both plans keep the newest two.
    everything = Post.objects.with_author()
    fast = search_posts(everything, text, all_posts=True)
    general = search_posts(everything, text)
    assert ids(fast.posts) == ids(general.posts)
    assert fast.count() == general.count() == len(ids(general.posts)) == general.posts.count()


# --------------------------------------------------------------------------
# rebuild_search_index
# --------------------------------------------------------------------------


def _break_index(post):
    with connection.cursor() as cursor:
        if VENDOR == "sqlite":
            cursor.execute("DELETE FROM posts_post_fts WHERE rowid = %s", [post.id])
        elif VENDOR == "postgresql":
            cursor.execute("UPDATE posts_post SET search_vector = NULL WHERE id = %s", [post.id])
        else:
            cursor.execute("UPDATE posts_post SET search_username = NULL WHERE id = %s", [post.id])


@search_db
def test_check_reports_a_stale_index_and_rebuild_repairs_it(corpus):
    post = corpus["django"]
    _break_index(post)
    with pytest.raises(CommandError, match="differs from the posts table"):
        call_command("rebuild_search_index", "--check", stdout=StringIO())

    out = StringIO()
    call_command("rebuild_search_index", stdout=out)
    assert f"{len(corpus)} posts" in out.getvalue()
    assert_index_in_step()
    assert ids(Post.objects.search("bobby admin ")) == [post.id]
    assert Post.objects.count() == len(corpus)

    out = StringIO()
    call_command("rebuild_search_index", "--check", stdout=out)
    assert "agrees" in out.getvalue()


# --------------------------------------------------------------------------
# Engine-specific objects
# --------------------------------------------------------------------------


@only_sqlite
@search_db
def test_sqlite_fts_table_holds_each_post_with_its_author(corpus):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rowid, title, username FROM posts_post_fts ORDER BY rowid")
        indexed = cursor.fetchall()
    expected = [(p.id, p.title, p.author.username) for p in Post.objects.with_author().order_by("id")]
    assert indexed == expected


@only_sqlite
@search_db
def test_sqlite_rebuild_restores_dropped_triggers(alice):
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER posts_post_search_insert")
    post = make_post(alice, "Written without a trigger", "missing")
    assert "trigger posts_post_search_insert is missing" in index_problems(connection.alias)
    call_command("rebuild_search_index", stdout=StringIO())
    assert_index_in_step()
    assert ids(Post.objects.search("written ")) == [post.id]
    # The trigger is back: the next post is indexed on insert.
    later = make_post(alice, "Written after the repair")
    assert_index_in_step()
    assert ids(Post.objects.search("repair ")) == [later.id]


@only_postgres
@search_db
def test_postgres_search_uses_the_gin_index(corpus):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM posts_post WHERE search_vector @@ to_tsquery('english', %s)", ["'sqlite'"]
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "posts_post_search_vector_idx" in plan


@only_postgres
@search_db
def test_postgres_ignores_english_stop_words(corpus):
    # "the" is a stop word in the english configuration: it narrows nothing.
    assert ids(Post.objects.search("the checkpoint ")) == [corpus["old_sqlite"].id]


@only_mysql
@search_db
def test_mysql_fulltext_index_covers_title_body_and_username():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND table_name = 'posts_post' AND index_name = 'posts_post_search_ft' ORDER BY seq_in_index"
        )
        columns = [row[0].lower() for row in cursor.fetchall()]
    assert columns == ["title", "body", "search_username"]


# MariaDB/MySQL choose between a walk of the newest rows and the FULLTEXT
# index by how many of the newest rows match; both must give the same answer.
WALK = {"probe_rows": 1, "dense_from": 0}  # one row read first, then always the walk
INDEX = {"probe_rows": 1, "dense_from": 2}  # one row read first, then always the index
WHOLE = {"probe_rows": 10_000, "dense_from": 10}  # the probe reads every row of these lists


def mysql_search(monkeypatch, plan, queryset, text, *, all_posts):
    for name, value in plan.items():
        monkeypatch.setattr(MysqlBackend, name, value)
    found = search_posts(queryset, text, all_posts=all_posts)
    return ids(found.posts), found.count()


@only_mysql
@search_db
@pytest.mark.parametrize(
    "text", ["sqlite ", "checkpoint", "checkp", '"foreign key"', "foreign key ", "indexing ", "bobby sqlite ", "a key "]
)
def test_mysql_walk_and_index_find_the_same_posts(corpus, alice, monkeypatch, settings, text):
    settings.SEARCH_MAX_RESULTS = 2  # "sqlite" matches more: every plan keeps the newest two.
    make_post(alice, "Short words", "a key word")
    lists = {"every post": (Post.objects.with_author(), True), "one author": (Post.objects.filter(author=alice), False)}
    for queryset, all_posts in lists.values():
        answers = {
            label: mysql_search(monkeypatch, plan, queryset, text, all_posts=all_posts)
            for label, plan in (("walk", WALK), ("index", INDEX), ("whole", WHOLE))
        }
        assert answers["walk"] == answers["index"] == answers["whole"], answers
        found, count = answers["whole"]
        assert count == len(found) == len(set(found)) <= 2


@only_mysql
@search_db
def test_mysql_walks_for_a_frequent_word_and_asks_the_index_for_a_rare_one(alice, bob, monkeypatch, settings):
    settings.SEARCH_MAX_RESULTS = 6
    monkeypatch.setattr(MysqlBackend, "probe_rows", 10)
    monkeypatch.setattr(MysqlBackend, "dense_from", 3)
    posts = Post.objects.bulk_create(
        [
            Post(
                author=alice if i % 4 else bob,
                title=f"Run {i}",
                body=("throughput" if i % 2 else "latency") + (" zeppelin" if i in (3, 5) else ""),
            )
            for i in range(40)
        ]
    )
    newest = sorted(posts, key=lambda post: post.id, reverse=True)

    def newest_with(words, author=None):
        chosen = [p.id for p in newest if all(w in p.body for w in words) and author in (None, p.author)]
        return sorted(chosen[:6], reverse=True)

    # (text, its words, what the index looks up: None when it is not used)
    cases = (
        ("throughput ", ["throughput"], None),
        ("zeppelin ", ["zeppelin"], "+(zeppelin"),
        # The frequent word is left to its REGEXP: only the rare one is looked up.
        ("throughput zeppelin ", ["throughput", "zeppelin"], "'+(zeppelin"),
    )
    for text, words, looked_up in cases:
        for queryset, author in ((Post.objects.all(), None), (Post.objects.filter(author=alice), alice)):
            with CaptureQueriesContext(connection) as queries:
                found = search_posts(queryset, text, all_posts=author is None)
                got = sorted(ids(found.posts), reverse=True)
            assert got == newest_with(words, author)
            assert found.count() == len(got)
            matched = [q["sql"] for q in queries.captured_queries if "MATCH(" in q["sql"]]
            # A frequent word: the newest rows hold enough matches, and the
            # walk goes on without the index; a rare one: the index, once.
            assert len(matched) == (0 if looked_up is None else 1), queries.captured_queries
            if looked_up:
                assert looked_up in matched[0]
                assert "+(throughput" not in matched[0]
            else:
                # Matches close together: their page is the range between
                # the oldest and the newest, walked newest first, not 1,000 ids.
                assert "IN (" not in str(found.posts.query)


@search_db
def test_short_words_and_stop_words_are_searchable(alice):
    # MariaDB's FULLTEXT index skips words under 3 letters (checked by REGEXP
    # instead); its stop word list is switched off for this index.
    post = make_post(alice, "An io scheduler", "ok")
    make_post(alice, "A scheduler", "fine")
    assert ids(Post.objects.search("io scheduler ")) == [post.id]
    if VENDOR != "postgresql":  # PostgreSQL's english configuration drops stop words.
        assert ids(Post.objects.search("an scheduler ")) == [post.id]


@search_db
def test_capped_search_orders_by_creation_time_not_insertion_order(alice, settings):
    # Many matches (the SQLite path that walks the newest-first index) with
    # creation times out of id order: the order is still created_at, then id.
    settings.SEARCH_MAX_RESULTS = 4
    now = timezone.now()
    posts = Post.objects.bulk_create(
        [
            Post(author=alice, title=f"Latency sample {i}", body="p99", created_at=now - timedelta(hours=h))
            for i, h in enumerate([5, 1, 9, 3, 7, 2])
        ]
    )
    newest_four_by_id = sorted(posts, key=lambda p: p.id)[-4:]
    expected = [p.id for p in sorted(newest_four_by_id, key=lambda p: (p.created_at, p.id), reverse=True)]
    results = Post.objects.search("latency ")
    assert ids(results) == expected
    assert ids(results[1:3]) == expected[1:3]
    assert results.count() == 4
    assert [p.id for p in Post.objects.search("latency ", order="relevance")] != []


@search_db
def test_count_after_further_filters_counts_the_filtered_rows(alice, bob):
    for i in range(3):
        make_post(alice, f"Worker pool {i}")
    make_post(bob, "Worker pool for bob")
    results = Post.objects.search("worker ")
    assert results.count() == 4
    assert results.filter(author=bob).count() == 1
    assert results.exclude(author=bob).count() == 3
    assert len(results.order_by("id")) == 4
    assert results.order_by("id").count() == 4


@only_sqlite
@search_db
def test_sqlite_prefix_expansion_lists_every_indexed_word_it_starts(alice):
    # "made" is a word and the start of others; "madex" sorts among them, "mae" after them.
    make_post(alice, "Made and madeira", "maders made madex madeiras mae mad")
    make_post(alice, "Made again", "made made made made madeup")
    backend = SqliteBackend()
    with connection.cursor() as cursor:
        # FTS5's own word list (the "row" view counts each word's posts on the way): the reference.
        cursor.execute("SELECT term FROM posts_post_fts_vocab WHERE term >= 'made' AND term < 'madf' ORDER BY term")
        reference = tuple(row[0] for row in cursor.fetchall())
    assert len(reference) == 5  # made, madeira, mader, madex, madeup (porter stems "maders", "madeiras")
    assert backend.words_starting(connection, "made", 50) == reference
    # Each word once, in order, at most `limit` of them; none for a prefix of no word.
    assert backend.words_starting(connection, "made", 2) == reference[:2]
    assert backend.words_starting(connection, "madeup", 50) == ("madeup",)
    assert backend.words_starting(connection, "madz", 50) == ()
