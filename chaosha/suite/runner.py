"""``chaosha suite run``: experiments one after another through ``chaos
run``, each with a deadline, a heal after each, the project's lock so two
suites never run against one stack at once (whatever their output folders),
and a dated folder of journals, logs, reports and summaries."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

from chaosha import state
from chaosha.config import Settings, load
from chaosha.haproxy.probes import wait_for_route
from chaosha.patroni.probes import wait_for_healthy
from chaosha.report.build import build_report
from chaosha.report.journal import JournalView, load_journal
from chaosha.suite.junit import write_junit
from chaosha.suite.summary import write_summary

__all__ = [
    "SuiteOptions",
    "ExperimentResult",
    "SuiteLocked",
    "suite_lock",
    "run_suite",
    "plan",
    "DEFAULT_EXPERIMENTS",
    "default_heal_cmd",
    "default_chaos_cmd",
    "wait_ready",
]

DEFAULT_EXPERIMENTS = (
    "experiments/master-kill.json",
    "experiments/switchover-under-load.json",
    "experiments/replica-kill.json",
)
HEAL_ENV = "CHAOSHA_SUITE_HEAL_CMD"
CHAOS_ENV = "CHAOSHA_SUITE_CHAOS_CMD"
INTERRUPT_GRACE = 60.0


class SuiteLocked(RuntimeError):
    """Another suite run holds the project's lock."""


def default_heal_cmd() -> List[str]:
    """``$CHAOSHA_SUITE_HEAL_CMD`` (shell words; empty: no heal) or ``chaosha heal --wait 180``."""
    if HEAL_ENV in os.environ:
        return shlex.split(os.environ[HEAL_ENV])
    return [sys.executable, "-m", "chaosha.cli", "heal", "--wait", "180"]


def default_chaos_cmd() -> List[str]:
    """``$CHAOSHA_SUITE_CHAOS_CMD`` or the ``chaos`` beside this Python (else on PATH)."""
    if os.environ.get(CHAOS_ENV):
        return shlex.split(os.environ[CHAOS_ENV])
    beside = Path(sys.executable).parent / "chaos"
    return [str(beside) if beside.exists() else (shutil.which("chaos") or "chaos")]


@dataclass
class SuiteOptions:
    """What to run and how."""

    experiments: List[Path]
    out: Path
    timeout: float = 1800.0
    heal_cmd: List[str] = field(default_factory=default_heal_cmd)
    heal_timeout: float = 300.0
    chaos_cmd: List[str] = field(default_factory=default_chaos_cmd)
    settings: Optional[Settings] = None  # the stack's (default: found by the env-file rule)


@dataclass
class ExperimentResult:
    """One experiment's run: files written and its outcome."""

    name: str
    experiment: Path
    journal: Path
    log: Path
    html: Optional[Path] = None
    exit_code: Optional[int] = None
    timed_out: bool = False
    seconds: float = 0.0
    heal_code: Optional[int] = None
    view: Optional[JournalView] = None
    problems: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def title(self) -> str:
        return self.view.title if self.view and self.view.title else self.name


@contextmanager
def suite_lock(settings: Settings, out: Path) -> Iterator[None]:
    """Hold the project's ``suite`` lock (non-blocking); ``SuiteLocked``
    naming the holder when another suite runs against the same project."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        with state.lock(settings, "suite", f"chaosha suite run --out {out.resolve()}"):
            yield
    except state.Locked as exc:
        raise SuiteLocked(f"another suite run is using this stack: {exc}; two runs must never overlap") from None


def run_folder(out: Path) -> Path:
    """A new dated folder under ``out`` (``2026-11-26T23-40-00Z``)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    folder = out / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = out / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def plan(options: SuiteOptions, folder: Path) -> List[ExperimentResult]:
    """The experiments in order with the files each will write."""
    results = []
    for i, experiment in enumerate(options.experiments, 1):
        name = f"{i:02d}-{experiment.stem}"
        results.append(
            ExperimentResult(
                name=name, experiment=experiment, journal=folder / f"{name}.json", log=folder / f"{name}.log"
            )
        )
    return results


def chaos_command(options: SuiteOptions, result: ExperimentResult) -> List[str]:
    return options.chaos_cmd + [
        "--log-file",
        str(result.log),
        "run",
        "--journal-path",
        str(result.journal),
        str(result.experiment),
    ]


def _run(cmd: List[str], timeout: float, output: Path) -> Tuple[int, bool]:
    """Run ``cmd`` (stdout+stderr to ``output``) with a deadline: SIGINT at
    the deadline (Chaos Toolkit then runs its rollbacks and writes the
    journal), SIGKILL of the whole group after a grace.  ``(code, timed_out)``."""
    with open(output, "ab") as sink:
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                return proc.wait(timeout=min(INTERRUPT_GRACE, max(timeout, 1.0))), True
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait(timeout=30), True


def _copy_ledger(view: JournalView, folder: Path) -> None:
    """Keep the run's ledger beside its journal so the report can be redrawn."""
    named = (view.verdict or {}).get("ledger")
    if named and Path(str(named)).is_file():
        shutil.copy2(str(named), folder / Path(str(named)).name)


def run_one(options: SuiteOptions, result: ExperimentResult, say: "Say") -> None:
    """Run one experiment, then judge and report it; never raises for the
    experiment's own trouble."""
    folder = result.journal.parent
    started = time.monotonic()
    if not result.experiment.is_file():
        result.problems = [f"no experiment file {result.experiment}"]
    else:
        say(f"[{result.name}] chaos run {result.experiment} (deadline {options.timeout:g}s)")
        try:
            result.exit_code, result.timed_out = _run(
                chaos_command(options, result), options.timeout, folder / f"{result.name}.out"
            )
        except OSError as exc:
            result.problems = [f"chaos could not be started: {exc}"]
    result.seconds = round(time.monotonic() - started, 1)
    if result.journal.is_file():
        result.view = load_journal(result.journal)
        _copy_ledger(result.view, folder)
        try:
            result.html = build_report(result.journal, result.journal.with_suffix(".html")).html
        except Exception as exc:  # noqa: BLE001 - a report bug must not stop the suite
            say(f"[{result.name}] report failed: {exc}")
        result.problems += result.view.problems
        result.problems += [f"method action {a.name} failed: {a.error}" for a in result.view.failed_actions]
    elif not result.problems:
        result.problems = [
            f"chaos exited with code {result.exit_code} without a journal "
            f"(see {result.log.name} and {result.name}.out)"
        ]
    if result.timed_out:
        result.problems.insert(0, f"the run exceeded its {options.timeout:g} s deadline and was interrupted")
    say(
        f"[{result.name}] {'passed' if result.passed else 'FAILED'} in {result.seconds} s"
        + ("" if result.passed else ": " + "; ".join(result.problems))
    )


def wait_ready(timeout: float, configuration: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Wait up to ``timeout`` seconds for a healthy cluster and then for
    HAProxy to route writes to its leader: after a heal Patroni can be
    healthy while HAProxy still counts its checks (``rise``), and an
    experiment started then fails its steady state before any fault."""
    start = time.monotonic()
    health = wait_for_healthy(timeout, configuration=configuration)
    left = max(1.0, timeout - (time.monotonic() - start))
    route = wait_for_route(left, configuration=configuration)
    return dict(health, routes_to=route.get("node"), took_s=round(time.monotonic() - start, 3))


def heal(options: SuiteOptions, result: ExperimentResult, say: "Say") -> None:
    """Run the heal command after an experiment (its output to ``<name>.heal.log``)."""
    if not options.heal_cmd or result.exit_code is None:
        return  # nothing was run (or could not start), so nothing to undo
    say(f"[{result.name}] heal: {shlex.join(options.heal_cmd)}")
    try:
        result.heal_code, timed_out = _run(
            options.heal_cmd, options.heal_timeout, result.journal.parent / f"{result.name}.heal.log"
        )
    except OSError as exc:
        say(f"[{result.name}] heal could not start: {exc}")
        result.heal_code = -1
        return
    if result.heal_code or timed_out:
        say(
            f"[{result.name}] heal ended with code {result.heal_code}"
            + (" after its deadline" if timed_out else "")
        )


class Say:
    """Progress lines to a stream and to the run folder's suite.log."""

    def __init__(self, log: Path, stream: IO[str]) -> None:
        self.log = log
        self.stream = stream

    def __call__(self, line: str) -> None:
        stamped = f"{datetime.now(UTC).strftime('%H:%M:%S')} {line}"
        print(stamped, file=self.stream, flush=True)
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(stamped + "\n")


def run_suite(options: SuiteOptions, stream: IO[str] = sys.stdout) -> Tuple[Path, List[ExperimentResult]]:
    """Run every experiment under the lock; ``(folder, results)``.
    Raises ``SuiteLocked`` when another run holds the lock."""
    with suite_lock(options.settings or load(), options.out):
        folder = run_folder(options.out)
        say = Say(folder / "suite.log", stream)
        results = plan(options, folder)
        done: List[ExperimentResult] = []
        say(f"suite of {len(results)} experiment(s) in {folder}")
        try:
            for result in results:
                run_one(options, result, say)
                done.append(result)
                heal(options, result, say)
        finally:
            write_summary(folder / "summary.md", done, len(results))
            write_junit(folder / "junit.xml", done)
        passed = sum(r.passed for r in done)
        say(f"{passed}/{len(results)} passed; summary: {folder / 'summary.md'}")
    return folder, done
