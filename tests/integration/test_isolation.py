"""Two stacks on one machine: a second checkout or env file cannot take over
a running project, images carry no Compose labels and are tagged per
project, and commands run from another directory act on the right project."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_runs import chaos_run

from chaosha import state
from chaosha.config import PORT_KEYS
from chaosha.docker.actions import partition_container
from chaosha.stack import IMAGES, Stack, StackError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def docker_json(*args: str) -> object:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def container_ids(project: str) -> list:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return sorted(out.split())


def test_a_second_env_file_cannot_take_over_a_running_project(stack, tmp_path: Path) -> None:
    project = stack.settings.project
    before = container_ids(project)
    overrides = {"CHAOSHA_PROJECT": project}
    overrides.update({key: str(48000 + i) for i, key in enumerate(PORT_KEYS)})
    intruder = Stack(compose_dir=ROOT / "compose", env_file=tmp_path / "second.env", overrides=overrides)
    with pytest.raises(StackError, match=f"project '{project}' already runs from .* with env file"):
        intruder.up(wait=30)
    assert container_ids(project) == before  # nothing recreated
    assert (tmp_path / "second.env").is_file()  # its own passwords, never used on our containers


def test_images_carry_no_compose_labels_and_are_tagged_per_project(stack) -> None:
    tag = stack.settings.image_tag
    assert tag == stack.settings.project
    for image in IMAGES:
        labels = docker_json("image", "inspect", f"chaosha/{image}:{tag}", "--format", "{{json .Config.Labels}}")
        assert not [k for k in (labels or {}) if str(k).startswith("com.docker.compose.")], (image, labels)
    first = container_ids(stack.settings.project)[0]
    running = docker_json("inspect", first, "--format", "{{json .Config.Image}}")
    assert str(running).endswith(f":{tag}")


def test_heal_from_another_directory_sees_the_projects_faults(healthy, tmp_path: Path) -> None:
    settings = healthy.settings
    partition_container("pg1", peers="zk1", configuration=healthy.configuration)
    assert [f["kind"] for f in state.pending(settings)] == ["partition"]
    env = dict(os.environ)
    env.pop("CHAOSHA_ENV_FILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "chaosha.cli", "--env-file", settings.env_file, "heal", "--wait", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "clear-netfilter" in json.loads(done.stdout)["healed"]["pg1"]
    assert state.pending(settings) == []


def test_a_command_without_env_file_says_which_project_it_acts_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAOSHA_ENV_FILE"}
    env["CHAOSHA_PROJECT"] = "chaosha-nobody"
    done = subprocess.run(
        [sys.executable, "-m", "chaosha.cli", "heal", "--wait", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if (ROOT / "compose" / ".env").is_file():
        pytest.skip("this checkout has a compose/.env: the fallback is not used")
    assert "no env file found" in done.stderr and "'chaosha-nobody'" in done.stderr


def test_a_second_experiment_against_the_stack_is_refused_and_the_first_passes(healthy, tmp_path: Path) -> None:
    """Two `chaos run` at once against one stack: the second is interrupted
    before it touches anything; the first completes and its verdict passes."""

    def run(name: str) -> subprocess.Popen:
        return chaos_run(healthy.settings.env_file, name, tmp_path)

    first = run("master-stop")
    assert first.stdout is not None
    for line in first.stdout:  # the first holds the lock once its workload runs
        if "start-ledger-workload" in line:
            break
    second = run("zk-session-expiry")
    second_out, _ = second.communicate(timeout=300)
    first_out, _ = first.communicate(timeout=600)
    refused = json.loads((tmp_path / "zk-session-expiry.json").read_text())
    assert refused["status"] == "interrupted", second_out[-2000:]
    assert "is busy" in second_out and "chaos run" in second_out
    assert not [r for r in refused["run"] if r["activity"]["name"] == "expire-the-leaders-session"]
    done = json.loads((tmp_path / "master-stop.json").read_text())
    assert done["status"] == "completed" and done["deviated"] is False, first_out[-3000:]
    verdict = next(r["output"] for r in done["run"] if r["activity"]["name"] == "integrity-verdict")
    assert verdict["passed"] is True, verdict
