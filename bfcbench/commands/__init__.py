"""Sub-commands of ``bfcbench``; each module has ``register(subparsers)``."""

from bfcbench.commands import (
    compare,
    data,
    describe,
    export,
    features,
    list_command,
    report,
    run,
    samples,
    sweep,
    table,
)

COMMANDS = (
    list_command,
    describe,
    run,
    sweep,
    table,
    samples,
    compare,
    features,
    report,
    export,
    data,
)
