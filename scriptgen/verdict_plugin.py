"""The judge's verdict, a pytest plugin that each validation run loads first (``-p``).

Copied into the run's judge folder, never imported by scriptgen: it takes the run's secret
out of the environment before any of the project's code runs, and writes it with the
outcomes (and the figures the judge recorded) where only the judge can write. A report
without the secret was not the judge's.
"""

import json
import os
import sys

_SECRET = os.environ.pop("SCRIPTGEN_VERDICT", "")
_PATH = os.environ.pop("SCRIPTGEN_VERDICT_FILE", "")
_OUTCOMES = {"passed": 0, "failed": 0, "skipped": 0}
_JUDGED: dict = {}  # test name -> what it recorded as "judged" (its figure and bar)


def pytest_runtest_logreport(report) -> None:  # type: ignore[no-untyped-def]
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[report.outcome] = _OUTCOMES.get(report.outcome, 0) + 1
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "judged":
                _JUDGED[report.nodeid.rpartition("::")[2]] = value


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    if _PATH:
        record = {
            "secret": _SECRET,
            "exitstatus": int(exitstatus),
            **_OUTCOMES,
            "judged": _JUDGED,
            # Where the judge's twin.py came by each twin (shipped, cached, built).
            "twins": getattr(sys.modules.get("twin"), "TWINS", {}),
            # How the project's process started: "warm" (forked), or "cold" and why.
            "worker": getattr(sys.modules.get("harness"), "WORKER_MODE", None),
        }
        with open(_PATH, "w", encoding="utf-8") as f:
            json.dump(record, f, default=repr)
