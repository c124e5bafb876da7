"""Helpers shared by the stack and failover benchmarks: a Stack on its own
Compose project and port block (optionally with extra compose files), the
machine description, and writing results under bench/results/."""

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence

from chaosha.stack import Stack, StackError

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
STATE = ROOT / ".chaosha" / "bench"  # git-ignored: env files, ledgers, fault registry


@dataclass
class BenchStack(Stack):
    """A Stack whose compose calls add ``extra_files`` (``-f`` each) after
    the project's own docker-compose.yml; everything else is Stack's."""

    extra_files: Sequence[Path] = field(default_factory=tuple)

    def compose(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        extra = [item for path in self.extra_files for item in ("-f", str(path))]
        return super().compose(*extra, *args, **kwargs)


def bench_stack(project: str, port_base: int, extra_files: Sequence[Path] = ()) -> BenchStack:
    """A stack named ``project`` publishing its 12 ports from ``port_base``
    (in PORT_KEYS order), env file under .chaosha/bench/."""
    stack = BenchStack.isolated(project, port_base, STATE, extra_files=tuple(extra_files))
    assert isinstance(stack, BenchStack)
    return stack


def up_with_retry(stack: Stack, attempts: int = 4, wait: float = 300) -> Dict[str, object]:
    """Stack.up, retried (bounded) when a port of the block is briefly held:
    the blocks lie in Linux's ephemeral range, so an outgoing connection of
    another program can hold one for a moment."""
    for attempt in range(attempts):
        try:
            return stack.up(wait=wait)
        except StackError as exc:
            if "already taken" not in str(exc) or attempt == attempts - 1:
                raise
            print(f"[bench] {exc}; retrying in 5 s", file=sys.stderr, flush=True)
            time.sleep(5)
    raise AssertionError("unreachable")


def configuration(stack: Stack) -> Dict[str, str]:
    """The chaosha configuration that aims every action at ``stack`` only
    (own project, own state directory: no shared 'current' workload)."""
    state = STATE / "state" / stack.project
    state.mkdir(parents=True, exist_ok=True)
    return {
        "CHAOSHA_ENV_FILE": str(stack.env_file),
        "CHAOSHA_PROJECT": stack.project,
        "CHAOSHA_STATE_DIR": str(state),
    }


def machine() -> Dict[str, Any]:
    """nproc, memory, kernel and Docker version of this machine."""
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "docker": docker,
    }


def machine_line(info: Dict[str, Any]) -> str:
    return (
        f"machine: {info['nproc']} CPUs, {info['memory_gib']} GiB, kernel {info['kernel']}, "
        f"Docker {info['docker']}"
    )


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_results(name: str, result: Dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


def table(header: List[str], rows: List[List[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
