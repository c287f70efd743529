"""Task collection of bfcbench, installed as ``bfcbench.tasks``."""

from bfcbench.tasks.base import Task
from bfcbench.tasks.boolean import SparseParity, Staircase
from bfcbench.tasks.hierarchical import Hierarchical
from bfcbench.tasks.single_index import QuadraticIndex

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (Hierarchical, SparseParity, Staircase, QuadraticIndex)
}

__all__ = [
    "TASKS",
    "Task",
    "Hierarchical",
    "SparseParity",
    "Staircase",
    "QuadraticIndex",
]
