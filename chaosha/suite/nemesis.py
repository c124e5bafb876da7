"""``chaosha nemesis``: one nemesis run through ``chaos run``, its schedule
printed first; a failing run shrunk to a smaller schedule that still
fails, saved as a ready-to-run experiment.

Every try is ``experiments/nemesis.json`` with its configuration filled in
(seed, duration, faults and the full schedule, so the journal holds what
ran), run like a suite experiment: a deadline, a heal after it, a report,
the project's suite lock.  A replay takes the schedule (and seed) from a
journal.  A shrink try counts as failing only when it ran and failed
(a journal was written, its steady state met before the method): a run
that could not start, or found the cluster not ready, proves nothing.
Before every try the cluster must be healthy again and HAProxy route
writes to its leader (bounded wait); a try whose steady state still
failed before the method runs once more.
"""

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed

from chaosha.config import load
from chaosha.nemesis.actions import topology
from chaosha.nemesis.schedule import Step, check, describe, draw, parse_faults, span_s
from chaosha.nemesis.shrink import shrink
from chaosha.suite.runner import (
    ExperimentResult,
    Say,
    SuiteOptions,
    heal,
    run_folder,
    run_one,
    suite_lock,
    wait_ready,
)

__all__ = ["NemesisOptions", "NemesisRun", "run_nemesis", "schedule_from_journal", "experiment_for"]

TEMPLATE = Path("experiments/nemesis.json")
SETUP_S = 900.0  # beyond the schedule: workload start, heal, the cluster healthy again, the verdict
SETTLE_TIMEOUT_S = 180.0  # for the cluster to be healthy again before a try


@dataclass
class NemesisOptions:
    """What to run: a seed's schedule or a replayed one, and how far to shrink."""

    out: Path
    seed: int = 1
    duration_s: float = 150.0
    faults: str = "all"
    unsafe: bool = False
    replay: Optional[Path] = None
    shrink_budget_s: float = 900.0
    template: Path = TEMPLATE
    suite: SuiteOptions = field(default_factory=lambda: SuiteOptions(experiments=[], out=Path(".")))


@dataclass
class NemesisRun:
    """The outcome: the folder, the schedule, every try, the shrunk experiment."""

    folder: Path
    seed: int
    schedule: List[Step]
    tries: List[ExperimentResult] = field(default_factory=list)
    shrunk: Optional[Path] = None
    shrink: Optional[Dict[str, Any]] = None

    @property
    def passed(self) -> bool:
        return bool(self.tries) and self.tries[0].passed


def schedule_from_journal(path: Path) -> Tuple[int, List[Step]]:
    """The seed and schedule a nemesis journal ran (the run_nemesis
    action's output, else the experiment's configuration)."""
    try:
        journal = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ActivityFailed(f"cannot read the journal {path}: {exc}") from None
    for run in journal.get("run") or []:
        output = run.get("output")
        if run.get("activity", {}).get("provider", {}).get("func") == "run_nemesis" and isinstance(output, dict):
            return int(output.get("seed") or 0), check(output.get("schedule"))
    config = (journal.get("experiment") or {}).get("configuration") or {}
    if isinstance(config.get("nemesis_schedule"), list) and config["nemesis_schedule"]:
        return int(config.get("nemesis_seed") or 0), check(config["nemesis_schedule"])
    raise ActivityFailed(f"{path} is not the journal of a nemesis run: no run_nemesis output, no schedule")


def experiment_for(
    template: Dict[str, Any], seed: int, schedule: List[Step], unsafe: bool, title: str
) -> Dict[str, Any]:
    """The nemesis experiment running exactly ``schedule``."""
    doc = copy.deepcopy(template)
    config = doc.setdefault("configuration", {})
    config.update(
        nemesis_seed=str(seed),
        nemesis_duration_s=str(span_s(schedule)),
        nemesis_unsafe="true" if unsafe else "false",
        nemesis_schedule=schedule,
    )
    doc["title"] = title
    return doc


def _template(options: NemesisOptions) -> Dict[str, Any]:
    try:
        doc: Dict[str, Any] = json.loads(options.template.read_text())
    except (OSError, ValueError) as exc:
        raise ActivityFailed(f"cannot read the nemesis experiment {options.template}: {exc}") from None
    return doc


def _plan(options: NemesisOptions) -> Tuple[int, List[Step]]:
    if options.replay:
        return schedule_from_journal(options.replay)
    settings = options.suite.settings or load()
    kinds = parse_faults(options.faults)
    return options.seed, draw(options.seed, options.duration_s, kinds, topology(settings), options.unsafe)


class _Tries:
    """Runs one schedule as an experiment in the run folder."""

    def __init__(self, options: NemesisOptions, run: NemesisRun, say: Say) -> None:
        self.options, self.run, self.say = options, run, say
        self.template = _template(options)

    def __call__(self, schedule: List[Step]) -> ExperimentResult:
        n = len(self.run.tries)
        name = "nemesis" if n == 0 else f"nemesis-try{n}"
        title = f"Nemesis seed {self.run.seed}: {len(schedule)} steps" + (f" (shrink try {n})" if n else "")
        self.say(describe(schedule, f"[{name}] schedule of seed {self.run.seed}, {len(schedule)} steps:"))
        result = self._attempt(name, title, schedule)
        if _not_ready(result):  # once more: a cluster still settling says nothing about the schedule
            self.say(f"[{name}] the steady state was not met before the method: once more when ready")
            result = self._attempt(f"{name}-again", title, schedule)
        self.run.tries.append(result)
        return result

    def _attempt(self, name: str, title: str, schedule: List[Step]) -> ExperimentResult:
        path = self.run.folder / f"{name}.experiment.json"
        doc = experiment_for(self.template, self.run.seed, schedule, self.options.unsafe, title)
        path.write_text(json.dumps(doc, indent=2) + "\n")
        result = ExperimentResult(name, path, self.run.folder / f"{name}.json", self.run.folder / f"{name}.log")
        suite = copy.copy(self.options.suite)
        suite.timeout = span_s(schedule) + SETUP_S
        settings = self.options.suite.settings
        try:  # the previous try's heal may still be settling: its steady state must hold first
            wait_ready(SETTLE_TIMEOUT_S, configuration=dict(settings.values) if settings else None)
        except ActivityFailed as exc:
            self.say(f"[{name}] the cluster is not ready before the run: {exc}")
        run_one(suite, result, self.say)
        heal(suite, result, self.say)
        return result


def _not_ready(result: ExperimentResult) -> bool:
    """It ran but its steady state failed before the method: no fault was injected."""
    return result.view is not None and result.view.before_met is False


def _failed(result: ExperimentResult) -> bool:
    """It ran its method (a journal, the steady state met before it) and did
    not pass: a try the cluster was not ready for proves nothing."""
    return result.view is not None and result.view.before_met is True and not result.passed


def run_nemesis(options: NemesisOptions, stream: IO[str] = sys.stdout) -> NemesisRun:
    """Run the nemesis (holding the project's suite lock), shrink it when it
    fails and ``shrink_budget_s`` > 0; raises ``SuiteLocked`` when another
    run holds the stack."""
    seed, schedule = _plan(options)
    if not schedule:
        raise ActivityFailed(f"seed {seed} draws an empty schedule: give a longer --duration or more --faults")
    with suite_lock(options.suite.settings or load(), options.out):
        run = NemesisRun(run_folder(options.out), seed, schedule)
        say = Say(run.folder / "nemesis.log", stream)
        tries = _Tries(options, run, say)
        first = tries(schedule)
        if not _failed(first) or options.shrink_budget_s <= 0:
            return run
        say(f"seed {seed} failed: shrinking for at most {options.shrink_budget_s:g}s")
        run.shrink = shrink(schedule, lambda s: _failed(tries(s)), options.shrink_budget_s)
        smallest = run.shrink["schedule"]
        run.shrunk = run.folder / f"nemesis-seed{seed}-shrunk.json"
        title = f"Nemesis seed {seed}, shrunk to {len(smallest)} of {len(schedule)} steps"
        run.shrunk.write_text(
            json.dumps(experiment_for(tries.template, seed, smallest, options.unsafe, title), indent=2) + "\n"
        )
        say(describe(smallest, f"shrunk to {len(smallest)} steps; rerun: chaos run {run.shrunk}"))
    return run
