"""Deadlines and waiting: the one place chaosha polls until something is true."""

import logging
import queue
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar, Union

from chaoslib.exceptions import ActivityFailed, InterruptExecution

__all__ = ["parse_duration", "epoch", "iso", "wait_until", "Deadline", "first_answer", "Pacer"]

T = TypeVar("T")
logger = logging.getLogger("chaostoolkit")
PROGRESS_EVERY = 5.0  # seconds between "still waiting" lines
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNITS = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value: Union[str, int, float], what: str = "duration") -> float:
    """Seconds from ``5``, ``2.5``, ``"500ms"``, ``"30s"``, ``"2m"``.

    Raises ``ActivityFailed`` for anything negative or malformed.
    """
    if isinstance(value, bool):
        raise ActivityFailed(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ActivityFailed(f"{what}: {value!r} is not a duration; use seconds (30), or 500ms, 30s, 2m")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ActivityFailed(f"{what}: {value!r} must not be negative")
    return seconds


def epoch(value: Any) -> Optional[float]:
    """Epoch seconds from a number, a numeric string or an ISO-8601
    timestamp (one without a zone is UTC); None when empty or unreadable."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class Deadline:
    """A point in monotonic time; ``remaining()`` never goes below zero."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.end = self.start + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def iso(t: Optional[float]) -> Optional[str]:
    """Epoch seconds as an ISO-8601 UTC timestamp with milliseconds."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def wait_until(
    check: Callable[[], Optional[T]],
    timeout: float,
    interval: float = 0.5,
    what: str = "condition",
) -> Tuple[T, float]:
    """Call ``check`` until it returns something truthy.

    Exceptions from ``check`` count as "not yet", except an interruption.  Returns the value and the
    seconds waited; raises ``ActivityFailed`` naming ``what`` and the last
    error when ``timeout`` seconds pass.
    """
    deadline = Deadline(timeout)
    last_error = ""
    next_note = PROGRESS_EVERY
    while True:
        try:
            value = check()
            if value:
                return value, deadline.elapsed()
        except InterruptExecution:  # a signal: stop waiting, let the run end
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = f" (last error: {exc})"
        if deadline.expired():
            raise ActivityFailed(f"timed out after {timeout:g}s waiting for {what}{last_error}")
        if deadline.elapsed() >= next_note:
            logger.info("chaosha: still waiting for %s (%.0fs of %gs)", what, deadline.elapsed(), timeout)
            next_note += PROGRESS_EVERY
        time.sleep(min(interval, max(deadline.remaining(), 0.01)))


def first_answer(calls: Sequence[Callable[[], T]], timeout: float) -> Tuple[Optional[T], List[str]]:
    """Run every call at once (daemon threads) and return the first result
    that is not None, without waiting for the others: a frozen peer costs
    nothing while another answers.  ``(None, errors)`` when none answered
    within ``timeout``; a thread still blocked then ends on its own deadline."""
    answers: queue.Queue[Tuple[Optional[T], str]] = queue.Queue()

    def run(call: Callable[[], T]) -> None:
        try:
            answers.put((call(), ""))
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            answers.put((None, f"{type(exc).__name__}: {exc}"[:200]))

    for call in calls:
        threading.Thread(target=run, args=(call,), daemon=True, name="first-answer").start()
    deadline = Deadline(timeout)
    errors: List[str] = []
    for _ in calls:
        try:
            value, error = answers.get(timeout=max(deadline.remaining(), 0.001))
        except queue.Empty:
            errors.append(f"no answer within {timeout:g}s")
            break
        if value is not None:
            return value, errors
        errors.append(error or "no answer")
    return None, errors


class Pacer:
    """Beats every ``interval`` seconds (0: no pause) until ``stop`` is set;
    a late beat starts the count afresh instead of bursting to catch up."""

    def __init__(self, interval: float, stop: threading.Event) -> None:
        self.interval = interval
        self.stop = stop
        self.next_at = time.monotonic()

    def wait(self) -> None:
        """Sleep until the next beat (returns at once when ``stop`` is set)."""
        if not self.interval:
            return
        self.next_at += self.interval
        delay = self.next_at - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)
        else:
            self.restart()

    def restart(self) -> None:
        """Count the next beat from now (after a pause such as a backoff)."""
        self.next_at = time.monotonic()
