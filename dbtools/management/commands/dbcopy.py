"""``manage.py dbcopy --from SOURCE --to TARGET``: move all data between databases.

Typical use, when a project outgrows SQLite::

    DATABASE_URL=postgres://user@host/db python manage.py migrate
    python manage.py dbcopy --from default --to postgres://user@host/db

The work is in ``dbtools.copying``; this command resolves the two sides, asks
before replacing data and reports.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dbtools.copying import CopyError, check_sides, copy_database, open_side, target_data


class Command(BaseCommand):
    help = (
        "Copy every table of every installed app from one database to a migrated target database, "
        "in foreign-key order and in batches, then verify row counts and checksums. "
        "Each side is a database alias (default) or a URL (sqlite:///path, postgres://..., mysql://...). "
        "The source is only read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="Source: a database alias or a URL.")
        parser.add_argument("--to", dest="target", required=True, help="Target: a database alias or a URL.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask before replacing data the target already holds: replace it.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Rows read and written per batch (default 2000); memory use grows with it.",
        )

    def handle(self, *args, **options) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        show = options["verbosity"] > 0
        try:
            with open_side(options["source"], role="from") as source, open_side(options["target"], role="to") as target:
                models = check_sides(source, target)
                existing = target_data(target, models)
                if existing:
                    self._confirm_replace(target.describe(), existing, interactive=options["interactive"])
                if show:
                    self.stdout.write(f"Copying {len(models)} tables from {source.describe()} to {target.describe()}")
                report = copy_database(
                    source,
                    target,
                    models,
                    batch_size=batch_size,
                    replace=bool(existing),
                    progress_stream=self.stderr,
                    show_progress=show,
                    log=self.stdout.write if show else (lambda message: None),
                )
        except CopyError as exc:
            raise CommandError(str(exc)) from exc
        if show:
            for table in report.tables:
                self.stdout.write(f"  {table.table}: {table.rows:,} rows")
            self.stdout.write("Time by phase: " + ", ".join(f"{name} {s:.1f} s" for name, s in report.phases.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Copied {report.rows:,} rows in {len(report.tables)} tables in {report.seconds:.1f} s; "
                "row counts and checksums match the source."
            )
        )

    def _confirm_replace(self, target: str, existing: dict[str, int], *, interactive: bool) -> None:
        tables = ", ".join(f"{name} ({rows:,})" for name, rows in sorted(existing.items()))
        if not interactive:
            self.stdout.write(f"Replacing the data in {target}: {tables}")
            return
        self.stdout.write(f"{target} already holds data: {tables}")
        try:
            answer = input("Type 'yes' to delete it and replace it with the source's data: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            raise CopyError("Cancelled: the target holds data and replacing it was not confirmed; nothing was copied.")
