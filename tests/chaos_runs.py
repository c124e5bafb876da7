"""Start ``chaos run`` on one of the catalogue's experiments against a test
stack (shared by the integration tests)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAOS = str(Path(sys.executable).with_name("chaos"))
# The test stack's failover profile (CHAOSHA_TEST_FAILOVER_PROFILE, tests/conftest.py). A stack
# on another profile (.ci/fast, which CI runs beside `make test`) keeps its journals apart.
PROFILE = os.environ.get("CHAOSHA_TEST_FAILOVER_PROFILE", "default")
JOURNALS = ROOT / ".chaosha" / "journals" / ("" if PROFILE == "default" else PROFILE)


def chaos_run(env_file: str, name: str, folder: Path) -> "subprocess.Popen[str]":
    """``chaos run experiments/<name>.json`` with its log and journal in
    ``folder``, aimed at the stack of ``env_file``; output on stdout."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CHAOSHA_ENV_FILE=env_file)
    return subprocess.Popen(
        [
            CHAOS,
            "--log-file",
            str(folder / f"{name}.log"),
            "run",
            "--journal-path",
            str(folder / f"{name}.json"),
            str(ROOT / "experiments" / f"{name}.json"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
