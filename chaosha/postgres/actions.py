"""PostgreSQL actions: a bounded bulk load in the background (a long COPY
transaction on the primary, so a fault can land while it runs) and its
undo.  The load is recorded before it starts; ``heal`` ends it (cuts its
sessions and drops its table) even after the run that started it died."""

import time
from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.clients import bulk
from chaosha.config import load
from chaosha.timing import parse_duration

__all__ = ["start_bulk_load", "stop_bulk_load"]

MAX_SIZE_MB = 4096


def start_bulk_load(
    target: str = "rw",
    size_mb: float = 1024,
    duration_s: float = 60,
    rate_mb_s: float = 0,
    wait_s: float = 2,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Start COPYing ~1 kB rows into ``chaosha_bulk`` through ``target``
    (default HAProxy's read-write port) in one transaction, in the
    background, until ``size_mb`` megabytes (at most 4096) were sent or
    ``duration_s`` seconds passed, at most ``rate_mb_s`` MB a second (0:
    unpaced), then COMMIT.  Returns after ``wait_s``
    seconds with how far it got; raises ActivityFailed when it already
    broke off.  Undo: stop_bulk_load (or heal)."""
    settings = load(configuration, secrets)
    size = float(size_mb)
    if not 0 < size <= MAX_SIZE_MB:
        raise ActivityFailed(f"size_mb {size_mb!r}: give a size above 0 and up to {MAX_SIZE_MB} MB")
    seconds = parse_duration(duration_s, "duration_s")
    rate = float(rate_mb_s)
    if rate < 0:
        raise ActivityFailed(f"rate_mb_s {rate_mb_s!r}: give 0 (unpaced) or a positive rate")
    registry.record(settings, bulk.FAULT, target, size_mb=size, duration_s=seconds, rate_mb_s=rate)
    started = time.time()
    running = bulk.start(settings, target, size, seconds, rate)
    running.join(parse_duration(wait_s, "wait_s"))
    summary = running.summary()
    if summary["outcome"] == "broken":
        raise ActivityFailed(f"the bulk load through {target} broke off: {summary['error']}")
    return dict(summary, at=started, took_s=round(time.time() - started, 3))


def stop_bulk_load(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Stop the bulk load, cut every ``chaosha-bulk-load`` session on the
    primary and drop ``chaosha_bulk``.  Returns how far the load got
    (``load``: None when this process started none)."""
    settings = load(configuration, secrets)
    started = time.time()
    running = bulk.current()
    ended = bulk.end_within(settings)
    for fault in registry.pending(settings):
        if fault["kind"] == bulk.FAULT:
            registry.forget(settings, bulk.FAULT, fault["service"])
    return dict(ended, load=running.summary() if running else None, took_s=round(time.time() - started, 3))
