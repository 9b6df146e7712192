"""A psycopg COPY writer that lets this process run ahead of the server by a
bounded amount (dbcopy's PostgreSQL side; imported only with psycopg).

A COPY into a table with triggers and indexes (posts_post: a tsvector
trigger, a GIN index and five B-trees) keeps the server busier than the
client, which meanwhile reads, converts and checksums the source rows. With
psycopg's default writer the client sends from its own thread: while it
reads the next page, nobody sends, and once the socket buffers (a few
hundred KB) drain the server waits. psycopg's ``QueuedLibpqWriter`` sends
from a thread, but queues up to 1,024 blocks of 32 KB (32 MB): a table the
server digests slower than it arrives would sit in this process's memory.
This writer is the same idea through psycopg's public ``Writer`` interface,
with a queue of ``max_bytes``.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from psycopg.copy import LibpqWriter, Writer

# psycopg hands the writer blocks of about 32 KB (its copy buffer size).
BLOCK_BYTES = 32 * 1024


class BoundedQueueWriter(Writer):
    """Sends COPY data from a worker thread; ``write`` blocks once
    ``max_bytes`` of data wait to be sent."""

    def __init__(self, cursor: Any, *, max_bytes: int = 8 * 1024 * 1024, target: Writer | None = None) -> None:
        # ``target``: where the worker sends (psycopg's LibpqWriter on the cursor unless given).
        self._target = target if target is not None else LibpqWriter(cursor)
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=max(1, max_bytes // BLOCK_BYTES))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="dbcopy-copy-writer", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        try:
            while (data := self._blocks.get()) is not None:
                self._target.write(data)
        except BaseException as exc:  # handed to the main thread by write()/finish()
            self._error = exc
            # Keep taking blocks, or write() would wait for ever on a full queue.
            while self._blocks.get() is not None:
                pass

    def write(self, data: Any) -> None:
        if self._error is not None:
            raise self._error
        # psycopg may reuse its buffer once write() returns: queue a copy.
        self._blocks.put(bytes(data))

    def finish(self, exc: BaseException | None = None) -> None:
        self._blocks.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error
        self._target.finish(exc)
