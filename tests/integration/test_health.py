"""cluster_health against the real stack: no false alarm on a healthy
cluster, idle or writing; degraded through a frozen synchronous standby,
past the point (14 s in) where Patroni's cached view still looked healthy;
and commits go on while the standby is still frozen."""

import threading
import time
from typing import List

import pytest

from chaosha.docker import actions
from chaosha.patroni.probes import cluster_health
from chaosha.postgres.probes import write_succeeds

pytestmark = pytest.mark.integration

SAMPLES = 8


def writing(cfg, stop: threading.Event, acks: List[float]) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            if write_succeeds(configuration=cfg):
                acks.append(time.time())
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_healthy_cluster_idle_or_writing_raises_no_alarm(healthy):
    cfg = healthy.configuration
    idle = [cluster_health(configuration=cfg) for _ in range(SAMPLES) if time.sleep(0.5) is None]
    assert all(h["healthy"] for h in idle), [h["reason"] for h in idle]
    stop, acks = threading.Event(), []
    thread = writing(cfg, stop, acks)
    try:
        busy = [cluster_health(configuration=cfg) for _ in range(SAMPLES) if time.sleep(0.5) is None]
    finally:
        stop.set()
        thread.join(30)
    assert acks, "no write succeeded: the samples were not taken under writes"
    assert all(h["healthy"] for h in busy), [h["reason"] for h in busy]
    assert all(set(h["reply_age_s"]) == set(h["streaming"]) for h in busy), busy


def test_a_frozen_sync_standby_is_degraded_throughout_and_commits_go_on(healthy):
    cfg = healthy.configuration
    stop, acks = threading.Event(), []
    thread = writing(cfg, stop, acks)
    try:
        frozen = actions.pause_container("@sync", configuration=cfg)
        since = time.time()
        seen = []
        while time.time() - since < 16:  # past 14 s: where Patroni's view alone said healthy
            seen.append((round(time.time() - since, 1), cluster_health(configuration=cfg)))
        acked_while_frozen = [t for t in acks if t > since]
        write_now = write_succeeds(configuration=cfg)
    finally:
        stop.set()
        thread.join(30)
    assert frozen["service"] in seen[0][1]["streaming"] or seen[0][1]["silent"], seen[0]
    assert [s for s in seen if s[1]["healthy"]] == [], [(t, h["reason"]) for t, h in seen]
    assert any(frozen["service"] in h["reason"] for _, h in seen)
    # the frozen standby was dropped from synchronous replication: writes commit without it
    assert acked_while_frozen and write_now, (len(acked_while_frozen), write_now)
