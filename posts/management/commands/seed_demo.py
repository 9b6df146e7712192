"""Deterministic demo data: the same --seed gives the same users and posts.

Bulk inserts in one transaction; passwords are unusable (demo users cannot
log in), since hashing thousands of passwords would take minutes.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from posts.models import Post
from project.progress import Progress

# Word list for titles and bodies. Drawn with Zipf-like weights so that some
# words are in most posts and others in very few, as in real text.
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "the of and to in is that it for on with as was by at this from are be or an have not which one all "
    "were when we there can more if out so about into than time only new some could these two may then "
    "first any like other well such our over even most after also made many before must through back "
    "years where much your way down should because each just those people how too little state good very "
    "make world still own see men work long get here between both life being under never day same "
    "another know while last might great old year off come since against go came right used take three "
    "sqlite django database query index table migration backup restore transaction lock journal vacuum "
    "cursor page python server admin model field schema foreign key constraint trigger search replica "
    "checkpoint postgres mariadb writer reader cache request response latency throughput benchmark "
    "gunicorn worker "
).split()
WEIGHTS = [1 / (rank + 1) for rank in range(len(WORDS))]
SPAN_DAYS = 365


class Command(BaseCommand):
    help = "Load deterministic demo users and posts (bulk inserts, one transaction)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=50, help="Number of demo users (default 50).")
        parser.add_argument("--posts", type=int, default=500, help="Number of demo posts (default 500).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per INSERT batch.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database already holds posts or non-staff users.",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))

    def handle(self, *args, **options) -> None:
        n_users, n_posts = options["users"], options["posts"]
        if n_users < 1 or n_posts < 0:
            raise CommandError("--users must be at least 1 and --posts at least 0.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        using = options["database"]
        User = get_user_model()
        has_data = Post.objects.using(using).exists() or User.objects.using(using).filter(is_staff=False).exists()
        if has_data:
            if options["if_empty"]:
                self.stdout.write("The database already holds data; no demo data loaded.")
                return
            raise CommandError(
                "The database already holds posts or users; seed_demo only loads into an empty database "
                "(flush it first, or pass --if-empty to skip)."
            )

        rng = random.Random(options["seed"])  # noqa: S311 (demo data, not secrets)
        show = options["verbosity"] > 0
        started = time.monotonic()
        # Anchored to today's midnight (UTC): the same data within a day, and
        # recent enough for "posts in the last 30 days" to mean something.
        end = datetime.now(dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=SPAN_DAYS)

        with transaction.atomic(using=using):
            unusable = make_password(None)
            users = [
                User(
                    username=f"user{i:05d}",
                    email=f"user{i:05d}@example.com",
                    first_name=rng.choice(WORDS).title(),
                    password=unusable,
                    date_joined=start + timedelta(seconds=i * 60),
                )
                for i in range(1, n_users + 1)
            ]
            user_progress = Progress(n_users, "users", stream=self.stderr, enabled=show)
            for chunk in _chunks(users, options["batch_size"]):
                User.objects.using(using).bulk_create(chunk)
                user_progress.advance(len(chunk))
            # The database held no non-staff users before this transaction.
            author_ids = list(User.objects.using(using).filter(is_staff=False).values_list("id", flat=True))

            post_progress = Progress(n_posts, "posts", stream=self.stderr, enabled=show)
            step = SPAN_DAYS * 86400 / max(n_posts, 1)
            remaining = n_posts
            index = 0
            while remaining > 0:
                size = min(options["batch_size"], remaining)
                batch = []
                for _ in range(size):
                    created = start + timedelta(seconds=index * step + rng.random() * step)
                    batch.append(
                        Post(
                            author_id=rng.choice(author_ids),
                            title=" ".join(rng.choices(WORDS, WEIGHTS, k=rng.randint(3, 8))).capitalize(),
                            body=_body(rng),
                            created_at=created,
                        )
                    )
                    index += 1
                Post.objects.using(using).bulk_create(batch)
                remaining -= size
                post_progress.advance(size)

        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {n_users:,} users and {n_posts:,} posts in {elapsed:.1f} s (seed {options['seed']})."
            )
        )


def _body(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(2, 5)):
        sentences.append(" ".join(rng.choices(WORDS, WEIGHTS, k=rng.randint(6, 14))).capitalize() + ".")
    return " ".join(sentences)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]
