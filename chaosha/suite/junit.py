"""The suite's ``junit.xml``: one testcase per experiment; a failure holds
the verdict in plain words and as JSON."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, List

from chaosha.suite.summary import result_words

__all__ = ["junit_tree", "write_junit"]


def junit_tree(results: List[Any]) -> ET.ElementTree:
    """The JUnit XML tree of ``results`` (ExperimentResult objects)."""
    failures = sum(not r.passed for r in results)
    total = sum(r.seconds for r in results)
    root = ET.Element(
        "testsuites",
        name="chaosha",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{total:.1f}",
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        name="chaosha.suite",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total:.1f}",
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"chaosha.{r.experiment.stem}",
            name=r.title,
            time=f"{r.seconds:.1f}",
            file=str(r.experiment),
        )
        verdict = r.view.verdict if r.view else None
        if not r.passed:
            failure = ET.SubElement(
                case,
                "failure",
                message="; ".join(r.problems)[:500],
                type="timeout" if r.timed_out else "chaosha.failed",
            )
            failure.text = (
                "\n".join(result_words(r)) + "\n\nverdict: " + json.dumps(verdict, indent=2, default=str)
            )
        out = ET.SubElement(case, "system-out")
        out.text = f"journal: {r.journal}\nlog: {r.log}\nreport: {r.html or '-'}\n" + (
            "\n".join(result_words(r)) if r.passed else ""
        )
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, results: List[Any]) -> None:
    junit_tree(results).write(path, encoding="utf-8", xml_declaration=True)
