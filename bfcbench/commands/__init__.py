"""Sub-commands of ``bfcbench``; each module has ``register(subparsers)``."""

from bfcbench.commands import describe, list_command, run, sweep

COMMANDS = (list_command, describe, run, sweep)
