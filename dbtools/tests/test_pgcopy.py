"""dbcopy's COPY writer for PostgreSQL: everything arrives, in order, with at
most the bound waiting in memory, and a failure of the sending side reaches
the caller. Against a slow stand-in for the server, so the queue does fill."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("psycopg")

from psycopg.copy import Writer

from dbtools.pgcopy import BLOCK_BYTES, BoundedQueueWriter


class SlowServer(Writer):
    def __init__(self, fail_after: int | None = None) -> None:
        self.received: list[bytes] = []
        self.finished_with: list[BaseException | None] = []
        self.fail_after = fail_after
        self.arrived = threading.Event()

    def write(self, data) -> None:
        if self.fail_after is not None and len(self.received) >= self.fail_after:
            raise ConnectionError("server went away")
        time.sleep(0.01)
        self.received.append(bytes(data))
        self.arrived.set()

    def finish(self, exc: BaseException | None = None) -> None:
        self.finished_with.append(exc)


def test_every_block_arrives_in_order_and_the_queue_stays_bounded():
    server = SlowServer()
    writer = BoundedQueueWriter(None, max_bytes=4 * BLOCK_BYTES, target=server)
    blocks = [bytes([i]) * BLOCK_BYTES for i in range(40)]
    most_waiting = 0
    for handed, block in enumerate(blocks, start=1):
        writer.write(block)
        most_waiting = max(most_waiting, handed - len(server.received))
    writer.finish()
    assert server.received == blocks
    assert server.finished_with == [None]
    # Four in the queue, one being sent, one in the caller's hand: never the whole table.
    assert most_waiting <= 6


def test_a_failure_of_the_sending_side_reaches_the_caller():
    server = SlowServer(fail_after=2)
    writer = BoundedQueueWriter(None, max_bytes=2 * BLOCK_BYTES, target=server)

    def copy_everything() -> None:
        for _ in range(50):  # write() raises once the worker has failed; finish() otherwise
            writer.write(b"x" * BLOCK_BYTES)
        writer.finish()

    with pytest.raises(ConnectionError, match="server went away"):
        copy_everything()
    assert len(server.received) == 2
