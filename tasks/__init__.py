"""Task collection of bfcbench, installed as ``bfcbench.tasks``."""

from bfcbench.tasks.base import Task
from bfcbench.tasks.hierarchical import Hierarchical

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Hierarchical,)}

__all__ = ["TASKS", "Task", "Hierarchical"]
