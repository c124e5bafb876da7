#!/usr/bin/env python3
"""Benchmark: what the stack costs.  Cold image build time (the three
images built with --no-cache under the tag CHAOSHA_IMAGE_TAG=bench, one
after the other, then removed), bring-up time to the first write through
HAProxy with the images cached (Stack.up on a fresh project, volumes
deleted first; rounds, median), memory of the running stack (docker stats
--no-stream, summed and per service) and image sizes.  Prints a Markdown
table with date and machine and writes JSON under bench/results/.

    .venv/bin/python bench/stack/run.py [--rounds 3] [--skip-build] [--keep]

Uses its own Compose project chaosha-bs (ports 47000-47011); tears it down,
volumes included, unless --keep.  Needs network access to the Debian
mirror and PyPI for the cold build (as `chaosha stack up` does).
"""

import argparse
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from chaosha.patroni.probes import wait_for_healthy
from chaosha.stack import IMAGES

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("benchlib", HERE / "benchlib.py")
assert _spec and _spec.loader
benchlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchlib)

PROJECT, PORT_BASE = "chaosha-bs", 47000
BUILD_TAG = "bench"
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def image_size_mb(ref: str) -> float:
    return round(int(docker("image", "inspect", ref, "--format", "{{.Size}}").strip()) / 1e6, 1)


def cold_build() -> Dict[str, Any]:
    """Build each image with --no-cache under the bench tag, time it, size
    it, remove it again."""
    stack = benchlib.bench_stack(f"{PROJECT}-build", PORT_BASE)
    stack.overrides["CHAOSHA_IMAGE_TAG"] = BUILD_TAG
    stack.ensure_env()
    result: Dict[str, Any] = {"seconds": {}, "size_mb": {}}
    try:
        for image in IMAGES:
            name = f"chaosha/{image}"
            started = time.monotonic()
            stack.build([image], no_cache=True)
            result["seconds"][name] = round(time.monotonic() - started, 1)
            result["size_mb"][name] = image_size_mb(f"{name}:{BUILD_TAG}")
            print(f"[bench] built {name} in {result['seconds'][name]} s", file=sys.stderr, flush=True)
    finally:
        for image in IMAGES:
            subprocess.run(
                ["docker", "image", "rm", f"chaosha/{image}:{BUILD_TAG}"],
                capture_output=True,
                timeout=120,
                check=False,
            )
    result["total_s"] = round(sum(result["seconds"].values()), 1)
    return result


def bring_up(stack: Any, rounds: int) -> List[float]:
    """Seconds of Stack.up (bootstrap check, cached build, compose up, first
    write through HAProxy on the leader) on a fresh project, per round."""
    times = []
    for index in range(rounds):
        stack.down(volumes=True)
        ready = benchlib.up_with_retry(stack)
        times.append(float(ready["seconds"]))
        print(f"[bench] bring-up round {index + 1}: {times[-1]} s", file=sys.stderr, flush=True)
    return times


def _bytes(text: str) -> float:
    match = re.match(r"([0-9.]+)\s*([A-Za-z]+)", text.strip())
    if not match:
        return 0.0
    return float(match.group(1)) * UNITS.get(match.group(2), 1)


def memory(project: str) -> Dict[str, float]:
    """MiB per service from one `docker stats --no-stream` of the project."""
    ids = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").split()
    if not ids:
        raise SystemExit(f"no running containers in project {project}")
    out = docker("stats", "--no-stream", "--format", "{{json .}}", *ids, timeout=120)
    per: Dict[str, float] = {}
    for line in out.splitlines():
        row = json.loads(line)
        service = row["Name"].removeprefix(f"{project}-").rsplit("-", 1)[0]
        per[service] = round(_bytes(row["MemUsage"].split("/")[0]) / 1024**2, 1)
    return dict(sorted(per.items()))


def report(result: Dict[str, Any]) -> str:
    rows: List[List[Any]] = []
    build = result.get("cold_build")
    if build:
        for image, seconds in build["seconds"].items():
            rows.append([f"cold build {image} (--no-cache)", f"{seconds} s"])
        rows.append(["cold build, all three (sequential)", f"{build['total_s']} s"])
    ups = result["bring_up_s"]
    rows.append(
        [
            f"bring-up to first write, cached images (median of {len(ups)})",
            f"{result['bring_up_median_s']} s (rounds: {', '.join(str(u) for u in ups)})",
        ]
    )
    rows.append(
        [
            f"memory, whole stack ({len(result['memory_mib'])} containers, settled {result['settle_s']:g} s)",
            f"{result['memory_total_mib']} MiB",
        ]
    )
    for service, mib in result["memory_mib"].items():
        rows.append([f"memory {service}", f"{mib} MiB"])
    for image, size in result["image_size_mb"].items():
        rows.append([f"image size {image}", f"{size} MB"])
    return benchlib.table(["metric", "value"], rows)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=15, help="seconds before measuring memory")
    parser.add_argument("--skip-build", action="store_true", help="leave out the cold build")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        raise SystemExit("--rounds must be 1..20")
    result: Dict[str, Any] = {
        "when": benchlib.now_iso(),
        "machine": benchlib.machine(),
        "project": PROJECT,
        "settle_s": args.settle,
    }
    if not args.skip_build:
        result["cold_build"] = cold_build()
    stack = benchlib.bench_stack(PROJECT, PORT_BASE)
    stack.ensure_env()
    try:
        result["bring_up_s"] = bring_up(stack, args.rounds)
        result["bring_up_median_s"] = round(statistics.median(result["bring_up_s"]), 1)
        wait_for_healthy(120, configuration=benchlib.configuration(stack))
        time.sleep(args.settle)
        result["memory_mib"] = memory(PROJECT)
        result["memory_total_mib"] = round(sum(result["memory_mib"].values()), 1)
        result["image_size_mb"] = {f"{i}:local": image_size_mb(f"{i}:local") for i in IMAGES.values()}
    finally:
        if not args.keep:
            stack.down(volumes=True)
    out = benchlib.write_results("stack", result)
    print(f"stack benchmark, {result['when'][:10]}")
    print(benchlib.machine_line(result["machine"]) + "\n")
    print(report(result))
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
