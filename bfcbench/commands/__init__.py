"""Sub-commands of ``bfcbench``; each module has ``register(subparsers)``."""

from bfcbench.commands import (
    compare,
    describe,
    export,
    list_command,
    report,
    run,
    samples,
    table,
)

COMMANDS = (list_command, describe, run, table, samples, compare, report, export)
