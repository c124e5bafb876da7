"""Read HAProxy's stats page as CSV (``GET /;csv``), with a deadline."""

import csv
import io
from typing import Dict, List

import requests
from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings

__all__ = ["parse_csv", "fetch", "backend_servers"]


def parse_csv(text: str) -> List[Dict[str, str]]:
    """Rows of HAProxy's stats CSV (header line starts with ``# ``)."""
    text = text.lstrip()
    if text.startswith("# "):
        text = text[2:]
    return [{k: v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(text))]


def fetch(settings: Settings, timeout: float = 0) -> List[Dict[str, str]]:
    url = f"http://{settings.host}:{settings.get('CHAOSHA_STATS_PORT')}/;csv"
    try:
        response = requests.get(url, timeout=(min(timeout or settings.timeout, 3), timeout or settings.timeout))
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ActivityFailed(
            f"HAProxy stats page {url} did not answer ({type(exc).__name__}): is the haproxy "
            "service up (chaosha stack status)? is CHAOSHA_STATS_PORT right?"
        ) from None
    return parse_csv(response.text)


def backend_servers(rows: List[Dict[str, str]], backend: str) -> Dict[str, str]:
    """``{server: status}`` of one backend (FRONTEND/BACKEND rows left out)."""
    return {
        r["svname"]: r.get("status", "")
        for r in rows
        if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
    }
