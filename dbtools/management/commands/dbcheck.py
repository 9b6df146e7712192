"""Is the database healthy? One line per finding, an exit code for cron and
monitors: 0 healthy, 1 warnings, 2 problems. Reads only; changes nothing."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.drill import restore_drill
from dbtools.health import INFO, OK, PROBLEM, WARNING, Report, check_database

LABELS = {OK: "OK", INFO: "INFO", WARNING: "WARNING", PROBLEM: "PROBLEM"}


class Command(BaseCommand):
    help = (
        "Check the database's health: integrity, journal and WAL (SQLite), server, table sizes and dead rows "
        "(PostgreSQL, MariaDB), unapplied migrations, the replica (REPLICA_URL); or, with --restore-drill, restore "
        "the newest backup and the replica into temporary files and check them. Exit code 0 healthy, 1 warnings, "
        "2 problems."
    )
    # The checks report a missing table or migration themselves; Django's
    # system checks would only slow down a cron job.
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            choices=tuple(connections),
            help='The database to check (default "default").',
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Slower, deeper checks: SQLite integrity_check instead of quick_check, MariaDB CHECK TABLE, "
            "PostgreSQL reads every row.",
        )
        parser.add_argument(
            "--restore-drill",
            action="store_true",
            help="Instead of the checks: restore the newest backup, and the replica when REPLICA_URL is set, into "
            "temporary files, run integrity_check on each, compare row counts with the live database and print "
            "how long each restore took (for cron).",
        )
        parser.add_argument("--json", action="store_true", help="Print the findings as one JSON document.")

    def handle(self, *args, **options) -> None:
        if options["restore_drill"]:
            report = restore_drill(options["database"])
        else:
            report = check_database(options["database"], full=options["full"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, default=str))
        else:
            # --verbosity 0: only what needs attention, so cron mails nothing
            # while the database is healthy.
            self._write_lines(report, quiet=options["verbosity"] == 0)
        if report.exit_code:
            # CommandError is Django's way to set the exit status: manage.py
            # prints it on stderr and exits with its returncode.
            raise CommandError(
                f"database {report.alias!r}: {report.count(PROBLEM)} problem(s), {report.count(WARNING)} warning(s)",
                returncode=report.exit_code,
            )

    def _write_lines(self, report: Report, *, quiet: bool) -> None:
        styles = {
            OK: self.style.SUCCESS,
            INFO: lambda text: text,
            WARNING: self.style.WARNING,
            PROBLEM: self.style.ERROR,
        }
        for finding in report.findings:
            if quiet and finding.level in (OK, INFO):
                continue
            label = LABELS[finding.level]
            self.stdout.write(f"{styles[finding.level](f'{label:<8}')} {finding.check}: {finding.message}")
        if quiet and not report.exit_code:
            return
        summary = f"database {report.alias!r} ({report.vendor}): {report.status}"
        self.stdout.write(styles[{"healthy": OK, "warning": WARNING, "problem": PROBLEM}[report.status]](summary))
