"""The bulk load's bounds without a server: bad sizes and rates are refused
before anything is recorded, and the pacing waits for the rate."""

import time
from typing import Any, List

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha import state
from chaosha.clients import bulk
from chaosha.config import load
from chaosha.postgres import actions


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    return {"CHAOSHA_ENV_FILE": "/nonexistent/.env", "CHAOSHA_PROJECT": "bulk-unit"}


@pytest.mark.parametrize(
    "size_mb,rate_mb_s,duration_s",
    [(0, 0, 10), (-5, 0, 10), (actions.MAX_SIZE_MB + 1, 0, 10), (100, -1, 10), (100, 0, -3)],
)
def test_bad_bounds_are_refused_and_nothing_is_recorded(cfg, size_mb, rate_mb_s, duration_s) -> None:
    with pytest.raises(ActivityFailed):
        actions.start_bulk_load("rw", size_mb, duration_s, rate_mb_s, 0, configuration=cfg)
    assert state.pending(load(cfg, None)) == []


def test_pacing_waits_until_the_rate_allows_the_next_chunk(cfg) -> None:
    waits: List[float] = []
    run = bulk.Load(load(cfg, None), "rw", 100, 60, 2.0)
    run.stop_event.wait = lambda timeout=None: waits.append(timeout) or False  # type: ignore[method-assign]
    run.started = time.time()
    run.sent_bytes = 6 * 1048576  # 6 MB at 2 MB/s: due 3 s after the start
    run._pace()
    run.started -= 10  # far behind the rate: no wait
    run._pace()
    assert 2.0 < waits[0] <= 3.0 and waits[1] == 0.0
    unpaced = bulk.Load(load(cfg, None), "rw", 100, 60, 0)
    unpaced.stop_event.wait = lambda timeout=None: waits.append(timeout) or False  # type: ignore[method-assign]
    unpaced._pace()
    assert len(waits) == 2  # rate 0: never waits
    assert run.summary()["outcome"] == "running" and run.summary()["rate_mb_s"] == 2.0
