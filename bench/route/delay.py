"""How soon ``wait_for_route`` returns after writes resume, from journals.

For each journal with a ``wait-until-haproxy-routes-…`` probe and an
``integrity-verdict``: delay = the probe's end - the first acknowledged
write after the longest gap (``rto_to``).  Negative: the probe returned
before the writer's first new acknowledgement.  Prints one line per journal
and the median, p90 and max::

    .venv/bin/python bench/route/delay.py .chaosha/journals/*.json
"""

import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import List, Optional


def delay(path: Path) -> Optional[float]:
    try:
        journal = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    runs = journal.get("run") or []
    waits = [r for r in runs if str(r["activity"].get("name", "")).startswith("wait-until-haproxy-routes")]
    verdicts = [r.get("output") or {} for r in runs if r["activity"].get("name") == "integrity-verdict"]
    if not waits or not verdicts or not verdicts[0].get("rto_to"):
        return None
    end = datetime.fromisoformat(waits[-1]["end"]).timestamp()
    return round(end - datetime.fromisoformat(verdicts[0]["rto_to"]).timestamp(), 3)


def main(paths: List[str]) -> int:
    found = []
    for name in paths:
        value = delay(Path(name))
        if value is not None:
            found.append(value)
            print(f"{Path(name).stem:32s} {value:+.3f} s")
    if not found:
        print("no journal with a route wait and a verdict", file=sys.stderr)
        return 1
    ordered = sorted(found)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    print(f"n={len(found)} median {statistics.median(found):+.3f} s, p90 {p90:+.3f} s, max {max(found):+.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
