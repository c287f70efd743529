"""Shared fixtures: small task settings, fast learner settings, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bfcbench import registry

# Learner parameters that make every learner quick; each applies only to the
# learners that declare it, so new learners get it without editing this file.
FAST = {"steps": 150, "eval_every": 50, "width": 16}

SMALL_HIERARCHICAL = {"d": 8, "depth": 2, "width": 2}


def fast_params(learner: str) -> dict[str, Any]:
    declared = {param.name for param in registry.learner_class(learner).params}
    return {key: value for key, value in FAST.items() if key in declared}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.sqlite"


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m bfcbench`` in a real subprocess."""
    environment = {k: v for k, v in os.environ.items() if k != "BFCBENCH_STORE"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bfcbench", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=600,
    )
