"""A pytest plugin that turns a skip nobody expected into a failure.

Off unless ``--expected-skips=FILE`` is given (CI passes one file per engine
through ``PYTEST_ADDOPTS``). The file lists the skips that run expects, one
per line, as the test id and the skip reason pytest reports::

    # comments and blank lines are ignored
    posts/tests/test_search.py::test_fts5_table_exists  # FTS5 objects exist on SQLite only
    project/tests/test_sqlite_tuning.py::*  # SQLite-specific settings; other engines have their own tests

``*`` in a test id matches any run of characters (nothing else is special,
so parametrised ids with brackets are written as they are); the reason must
be exactly the one pytest reports. At the end of the run the actual skips are
compared with the file. Any difference (a test skipped that no line matches,
or skipped for another reason, or a line that matches no skip) adds one
failure named ``expected skips`` whose text gives the lines to add or remove,
so that a test that silently stopped running cannot pass CI.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import pytest

REPORT_ID = "expected skips"


@dataclasses.dataclass(frozen=True, order=True)
class Skip:
    """A skip: its test id (in an expected list, possibly with ``*``) and its reason."""

    test_id: str
    reason: str

    def line(self) -> str:
        return f"{self.test_id}  # {self.reason}"

    @functools.cached_property
    def _pattern(self) -> re.Pattern:
        return re.compile(".*".join(re.escape(part) for part in self.test_id.split("*")) + r"\Z")

    def matches(self, skip: Skip) -> bool:
        """Whether this expected skip (its id may hold ``*``) covers ``skip``."""
        return self.reason == skip.reason and self._pattern.match(skip.test_id) is not None

    def covers_test(self, test_id: str) -> bool:
        return self._pattern.match(test_id) is not None


def parse_expected(text: str, source: str = "<expected skips>") -> set[Skip]:
    """The skips listed in ``text``; a line without ``  # reason`` is an error."""
    expected = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        test_id, sep, reason = line.partition("  # ")
        if not sep or not test_id.strip() or not reason.strip():
            raise pytest.UsageError(f"{source}:{number}: expected '<test id>  # <skip reason>', got {raw!r}")
        expected.add(Skip(test_id.strip(), reason.strip()))
    return expected


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return message.removeprefix("Skipped: ").strip()


def differences(expected: set[Skip], actual: set[Skip], ran: set[str]) -> str:
    """A readable account of how ``actual`` differs from ``expected`` ('' when equal).

    ``ran`` holds every test id that ran to the end or was collected; a listed
    skip whose test is not among them is reported as gone (renamed or removed).
    """
    unexpected = sorted(skip for skip in actual if not any(line.matches(skip) for line in expected))
    missing = sorted(line for line in expected if not any(line.matches(skip) for skip in actual))
    if not unexpected and not missing:
        return ""
    lines = []
    if unexpected:
        lines.append("Skipped, but not in the list of expected skips (add the line if the skip is right, else fix it):")
        lines += [f"  + {skip.line()}" for skip in unexpected]
    if missing:
        lines.append("Listed as expected skips, but not skipped this time (remove the line if that is right):")
        for skip in missing:
            found = any(skip.covers_test(test_id) for test_id in ran)
            note = "" if found else "   (no such test ran: renamed or removed?)"
            lines.append(f"  - {skip.line()}{note}")
    return "\n".join(lines)


class ExpectedSkips:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.expected = parse_expected(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise pytest.UsageError(f"--expected-skips: cannot read {path}: {exc}") from exc
        self.actual: set[Skip] = set()
        self.ran: set[str] = set()

    def _record(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        self.ran.add(report.nodeid)
        if report.skipped and not hasattr(report, "wasxfail"):
            self.actual.add(Skip(report.nodeid, skip_reason(report)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:  # a whole module skipped at import
            self._record(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid != REPORT_ID:
            self._record(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        problem = differences(self.expected, self.actual, self.ran)
        if not problem:
            return
        report = pytest.TestReport(
            nodeid=REPORT_ID,
            location=(str(self.path), 0, REPORT_ID),
            keywords={},
            outcome="failed",
            longrepr=f"The skips of this run differ from {self.path}:\n{problem}",
            when="call",
        )
        # Through the hook, so the terminal summary counts it as a failure.
        session.config.hook.pytest_runtest_logreport(report=report)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--expected-skips",
        metavar="FILE",
        default=None,
        help="fail the run when its skips differ from those listed in FILE (test id  # reason per line)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--expected-skips")
    # Under pytest-xdist, the controller sees every worker's reports and judges
    # the whole run; a worker alone would see only its share of the skips.
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ExpectedSkips(Path(path)), "expected-skips")
