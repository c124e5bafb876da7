"""chaosha/clients/command.py: a local command under a deadline, each failure
an ActivityFailed that says which call and what to do."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients.command import run


def test_the_output_of_a_command_that_succeeds():
    assert run(["printf", "ok"], 10, "printf ok", "no printf") == "ok"


def test_a_missing_program_a_timeout_and_a_failure_each_say_so():
    with pytest.raises(ActivityFailed, match="^install nosuchtool-xyz first$"):
        run(["nosuchtool-xyz"], 10, "nosuchtool-xyz", "install nosuchtool-xyz first")
    with pytest.raises(ActivityFailed, match=r"`sleep 5` took over 0.2s"):
        run(["sleep", "5"], 0.2, "sleep 5", "no sleep")
    with pytest.raises(ActivityFailed, match=r"`sh -c` failed: boom \(are you root\?\)"):
        run(["sh", "-c", "echo boom >&2; exit 3"], 10, "sh -c", "no sh", hint=" (are you root?)")
