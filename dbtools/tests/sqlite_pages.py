"""Damage one page of a SQLite file on purpose, without the dbstat table
(the bundled SQLite is built without it): the table's b-tree is walked from
its root page in the file itself, by SQLite's documented file format
(fileformat2.html, "B-tree Pages")."""

from __future__ import annotations

import re
from pathlib import Path

from dbtools.sqlite import connect

INTERIOR = {2, 5}  # index and table interior pages
LEAVES = {10, 13}


def leaf_pages(path: Path, table: str) -> list[int]:
    """The leaf pages of ``table``'s b-tree, in page order (file must be checkpointed)."""
    conn = connect(path, mode="ro")
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()
    finally:
        conn.close()
    leaves, pending = [], [root]
    with open(path, "rb") as fh:
        while pending:
            number = pending.pop()
            fh.seek((number - 1) * page_size)
            page = fh.read(page_size)
            start = 100 if number == 1 else 0  # page 1 begins with the file header
            kind = page[start]
            if kind in LEAVES:
                leaves.append(number)
            elif kind in INTERIOR:
                cells = int.from_bytes(page[start + 3 : start + 5], "big")
                pending.append(int.from_bytes(page[start + 8 : start + 12], "big"))  # right-most child
                for i in range(cells):
                    offset = int.from_bytes(page[start + 12 + 2 * i : start + 14 + 2 * i], "big")
                    pending.append(int.from_bytes(page[offset : offset + 4], "big"))  # left child
    return sorted(leaves)


def corrupt_a_page(path: Path, table: str = "posts_post", *, nth: int = 3, garbage: bytes = b"\xde\xad\xbe\xef") -> int:
    """Write garbage over the cells of the ``nth`` leaf page of ``table``
    (the header stays, so the file still opens); returns the page number."""
    page = leaf_pages(path, table)[nth]
    conn = connect(path, mode="ro")
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * page_size + 8)
        fh.write(garbage * ((page_size - 16) // len(garbage)))
    return page


DATETIME = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def change_a_stored_value(path: Path, table: str = "posts_post") -> int:
    """Change one digit of a date stored in a leaf page of ``table``, in
    place: the page stays well-formed (the check that reads pages and
    records, quick_check, passes) but the row no longer matches its entry in
    the table's indexes, which only the full integrity_check compares.
    Returns the page number."""
    conn = connect(path, mode="ro")
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with open(path, "r+b") as fh:
        for page in leaf_pages(path, table):
            fh.seek((page - 1) * page_size)
            data = fh.read(page_size)
            found = DATETIME.search(data)
            if found:
                year = found.start()  # 2xxx becomes 1xxx: the same length, another value
                fh.seek((page - 1) * page_size + year)
                fh.write(b"1" if data[year : year + 1] != b"1" else b"2")
                return page
    raise AssertionError(f"no stored date found in {table}")
