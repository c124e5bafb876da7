"""The append-only ledger of a workload run: one JSON object per line.

Record kinds (key ``k``): ``run`` (header), ``w`` (one write attempt),
``r`` (one read), ``s`` (one split-brain sample of one node), ``nodes``
(address -> member map), ``reserve`` (ids about to be used, written before
them so a killed writer leaves its tail in-doubt, not unexpected), ``end``.
Times are wall-clock epoch seconds; ``t0``/``t1`` bound an operation.
"""

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

__all__ = ["new_run_id", "Ledger", "read_records", "OK", "FAILED", "IN_DOUBT"]


def new_run_id() -> str:
    """A unique, sortable run id such as ``20261126T230102Z-3fa9c1``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


OK = "ok"
FAILED = "failed"
IN_DOUBT = "in-doubt"


class Ledger:
    """Thread-safe appender that flushes in batches (every ``interval``
    seconds or ``batch`` records) so the file outlives the process."""

    def __init__(self, path: Union[str, Path], interval: float = 0.2, batch: int = 500) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._buffer: List[str] = []
        self._interval = interval
        self._batch = batch
        self._last_flush = time.monotonic()

    def append(self, record: Dict[str, Any], flush: bool = False) -> None:
        """Queue one record; write the batch when it is due (or ``flush``)."""
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            self._buffer.append(line)
            now = time.monotonic()
            if flush or len(self._buffer) >= self._batch or now - self._last_flush >= self._interval:
                self._write_locked(now)

    def flush(self) -> None:
        with self._lock:
            self._write_locked(time.monotonic())

    def _write_locked(self, now: float) -> None:
        if self._buffer:
            self._fh.write("\n".join(self._buffer) + "\n")
            self._buffer.clear()
        self._fh.flush()
        self._last_flush = now

    def close(self) -> None:
        with self._lock:
            self._write_locked(time.monotonic())
            os.fsync(self._fh.fileno())
            self._fh.close()


def read_records(path: Union[str, Path], corrupt: Optional[List[int]] = None) -> Iterator[Dict[str, Any]]:
    """Every record of a ledger.  Without ``corrupt``: a torn last line
    (writer killed mid-write) is skipped, any other malformed line raises
    ``ValueError``.  With a list: every malformed line (torn or not) is
    skipped and its number appended to ``corrupt``, for the verdict to
    count."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            yield record
        elif corrupt is not None:
            corrupt.append(number)
        elif number == len(lines):
            return
        else:
            raise ValueError(f"{path}:{number}: not a JSON ledger record")
