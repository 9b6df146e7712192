"""The documentation is part of the code: these checks keep the cheap, mechanical
part of it true. The README stays a front door; every relative link (and
#section) in README.md and docs/*.md leads somewhere, and so does every
project path the docs quote (`dbtools/sqlite.py`); every `make <target>` the
docs name exists; every variable in docs/configuration.md's tables is read by
the code.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
README_MAX_LINES = 200

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
MAKE_COMMAND = re.compile(r"\bmake\s+((?:[A-Z_]+=\S+\s+)*)([a-z][a-z0-9.-]*)([<*])?")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.$()/ -]+?)\s*:(?![=])", re.MULTILINE)
TABLE_ROW_FIRST_CELL = re.compile(r"^\|\s*([^|]+?)\s*\|", re.MULTILINE)
VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`")
PATH = re.compile(r"^[A-Za-z_.][\w.-]*(?:/[\w.*-]+)+/?$")
# Folders that are made at run time (and git-ignored), not part of the project.
RUNTIME_FOLDERS = {"var", "staticfiles", "test-artifacts"}


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def heading_anchors(path: Path) -> set[str]:
    """The #fragments GitHub gives a Markdown file's headings: lower case,
    punctuation dropped, spaces as hyphens, a -N suffix on repeats."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in without_code_blocks(path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = match.group(1).lower()
        slug = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in {"L", "N"}).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links() -> list[str]:
    broken = []
    for doc in doc_files():
        for target in LINK.findall(without_code_blocks(doc.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            path_part, _, fragment = target.partition("#")
            linked = (doc.parent / path_part).resolve() if path_part else doc
            where = f"{relative(doc)}: ({target})"
            if not linked.exists():
                broken.append(f"{where} -> {path_part} does not exist")
                continue
            if fragment and linked.suffix == ".md" and fragment not in heading_anchors(linked):
                broken.append(f"{where} -> no heading #{fragment} in {relative(linked)}")
    return broken


def project_folders() -> set[str]:
    return {
        path.name
        for path in ROOT.iterdir()
        if path.is_dir() and path.name not in RUNTIME_FOLDERS and (path.name == ".ci" or not path.name.startswith("."))
    }


def missing_quoted_paths() -> list[str]:
    """Paths in code spans that start at one of the project's folders
    (`project/testing/skips.py`, `tools/bench/`) and lead nowhere; a glob
    (`requirements*.txt`, `.ci/skips/*`) must match something."""
    folders = project_folders()
    missing = []
    for doc in doc_files():
        for span in CODE_SPAN.findall(without_code_blocks(doc.read_text())):
            for word in span.split():
                word = word.rstrip(".,;:)")
                if not PATH.match(word) or word.split("/")[0] not in folders:
                    continue
                found = any(ROOT.glob(word.rstrip("/"))) if "*" in word else (ROOT / word).exists()
                if not found:
                    missing.append(f"{relative(doc)}: {word}")
    return missing


def makefile_targets() -> set[str]:
    targets: set[str] = set()
    for names in MAKE_TARGET.findall((ROOT / "Makefile").read_text()):
        targets.update(name for name in names.split() if "$" not in name)
    return targets


def make_commands_in_docs() -> dict[str, set[str]]:
    """``make <target>`` inside code (spans and blocks) of every doc, by target."""
    named: dict[str, set[str]] = {}
    for doc in doc_files():
        text = doc.read_text()
        code = [*CODE_SPAN.findall(without_code_blocks(text)), *(m.group(0) for m in FENCE.finditer(text))]
        for chunk in code:
            for _, target, placeholder in MAKE_COMMAND.findall(chunk):
                if placeholder:  # make bench-<area>, make bench-*
                    continue
                named.setdefault(target, set()).add(relative(doc))
    return named


def configuration_variables() -> set[str]:
    """The variables docs/configuration.md documents: those named in the first
    cell of its tables' rows."""
    names: set[str] = set()
    for cell in TABLE_ROW_FIRST_CELL.findall(CONFIGURATION.read_text()):
        names.update(VARIABLE.findall(cell))
    return names


def names_the_code_reads() -> set[str]:
    """Every string constant of the project's Python code outside its tests
    (``env_int("WEB_TIMEOUT", ...)``, ``os.environ.get("HOST")``), and every
    variable the Makefile uses (``$(DEMO_USERS)``, ``$${DEBUG:-true}``)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0].startswith(".") or "tests" in parts or parts[0] in {"var", "staticfiles", "node_modules"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    makefile = (ROOT / "Makefile").read_text()
    found.update(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", makefile))
    found.update(re.findall(r"\$\$\{([A-Z][A-Z0-9_]*)", makefile))
    return found


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move topics into docs/ and link them"


def test_every_relative_link_leads_to_a_file_and_section_that_exist():
    assert broken_links() == []


def test_every_project_path_the_docs_quote_exists():
    assert missing_quoted_paths() == []


def test_every_make_target_the_docs_name_exists():
    targets = makefile_targets()
    missing = {target: sorted(docs) for target, docs in make_commands_in_docs().items() if target not in targets}
    assert missing == {}


def test_every_variable_in_the_configuration_page_is_read_by_the_code():
    variables = configuration_variables()
    # The page documents the settings; a parse that finds a handful means the table format changed.
    assert len(variables) > 40
    assert sorted(variables - names_the_code_reads()) == []
