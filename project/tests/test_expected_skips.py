"""The plugin CI runs with: a skip that is not in the leg's list fails the run."""

import pytest

from project.testing.skips import Skip, differences, parse_expected

TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="engine X only")
def test_engine_x():
    pass

def test_skips_itself():
    pytest.skip("no widget here")
"""
EXPECTED = """
# the skips this leg expects
test_sample.py::test_engine_x  # engine X only
test_sample.py::test_skips_itself  # no widget here
"""


@pytest.fixture
def sample(pytester):
    pytester.makepyfile(test_sample=TESTS)
    return pytester


def run(pytester, expected: str, workers: int = 0):
    pytester.makefile(".txt", skips=expected)
    # pytest-django is off inside: the sample tests need no database, and this run already set Django up.
    return pytester.runpytest_inprocess(
        "-p", "no:django", "-p", "project.testing.skips", "--expected-skips=skips.txt", "-n", str(workers)
    )


# make test runs the suite on parallel workers (pytest-xdist): the whole run's skips are judged, once.
WORKERS = pytest.mark.parametrize("workers", [0, 2], ids=["one process", "two workers"])


@WORKERS
def test_the_listed_skips_pass(sample, workers):
    result = run(sample, EXPECTED, workers)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2)


@WORKERS
def test_an_unlisted_skip_fails_the_run_and_names_the_line_to_add(sample, workers):
    result = run(sample, EXPECTED.replace("test_sample.py::test_skips_itself  # no widget here\n", ""), workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*not in the list of expected skips*", "  + test_sample.py::test_skips_itself  # no widget here"]
    )


def test_a_listed_skip_that_no_longer_happens_fails_the_run(sample):
    result = run(
        sample, EXPECTED + "test_sample.py::test_runs  # was skipped once\ntest_sample.py::test_gone  # gone\n"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*not skipped this time*",
            "  - test_sample.py::test_gone  # gone   (no such test ran: renamed or removed?)",
            "  - test_sample.py::test_runs  # was skipped once",
        ]
    )


def test_a_skip_for_another_reason_is_a_difference():
    expected = {Skip("t.py::test_a", "PostgreSQL only")}
    actual = {Skip("t.py::test_a", "the psycopg driver is not installed")}
    text = differences(expected, actual, ran={"t.py::test_a"})
    assert "  + t.py::test_a  # the psycopg driver is not installed" in text
    assert "  - t.py::test_a  # PostgreSQL only" in text
    assert differences(expected, expected, ran={"t.py::test_a"}) == ""


def test_a_line_without_a_reason_is_a_usage_error():
    with pytest.raises(pytest.UsageError, match=r"skips.txt:2: expected '<test id>  # <skip reason>'"):
        parse_expected("# fine\nt.py::test_a\n", "skips.txt")


def test_a_star_matches_any_test_id_and_brackets_are_plain():
    expected = parse_expected("t.py::*  # SQLite only\nt.py::test_p[a-b]  # why\n")
    actual = {
        Skip("t.py::test_one", "SQLite only"),
        Skip("t.py::test_two[x]", "SQLite only"),
        Skip("t.py::test_p[a-b]", "why"),
    }
    assert differences(expected, actual, ran={skip.test_id for skip in actual}) == ""
    # The pattern matches ids, not reasons; and [a-b] is not a character class.
    text = differences(expected, {Skip("u.py::test_one", "SQLite only"), Skip("t.py::test_pa", "why")}, ran=set())
    assert "  + u.py::test_one  # SQLite only" in text
    assert "  + t.py::test_pa  # why" in text
    assert "  - t.py::*  # SQLite only   (no such test ran: renamed or removed?)" in text
