"""The package list in pyproject.toml covers every package of the source tree.

The task and learner collections live outside ``bfcbench/`` and are mapped in by
``package-dir``, so the list is explicit; a sub-package missing from it would be
absent from a non-editable install (as ``bfcbench.commands`` once was).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            name = ".".join((package, *relative))
            # Sub-packages of a mapped package that is itself mapped elsewhere
            # are found through their own entry.
            if not any(
                name.startswith(other + ".") or name == other
                for other in mapping
                if other != package and other.startswith(package + ".")
            ):
                found.add(name)
    assert found == listed


def test_torch_is_pinned_to_the_cpu_wheel_on_disk():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert "torch==2.13.0" in dependencies
