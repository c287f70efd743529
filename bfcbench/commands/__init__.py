"""Sub-commands of ``bfcbench``; each module has ``register(subparsers)``."""

from bfcbench.commands import data, describe, features, list_command, run, sweep

COMMANDS = (list_command, describe, run, sweep, features, data)
