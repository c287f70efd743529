"""Exceptions and warnings of bfcbench.

Every error bfcbench raises on purpose derives from :class:`BfcbenchError`. A user
mistake (a bad name, a bad value) raises :class:`ConfigError`, whose message is one
line that names the parameter, shows the value received and says what is allowed;
the command line prints that line and exits with status 2.
"""

from __future__ import annotations


class BfcbenchError(Exception):
    """Root of every error that bfcbench raises on purpose."""


class ConfigError(BfcbenchError, ValueError):
    """A parameter, name or file given by the user is not acceptable."""


class StoreError(BfcbenchError):
    """The result store cannot be opened, read or written.

    Parameters
    ----------
    message : str
        The whole sentence, naming the file.
    reason : str, optional
        What is wrong with the file, as a clause ("is not an SQLite database"),
        for a message that names the file itself; default: ``message``.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


class ExecutorLost(BfcbenchError):
    """The machinery running a sweep went away (a Dask scheduler, say).

    The runs already committed stay in the store; running the same command
    again resumes the sweep.
    """


class ClusterSetupError(BfcbenchError):
    """The workers of a cluster cannot run what this process can.

    A task, learner or parameter that this process resolves is unknown where
    the runs execute (a plugin or a bfcbench version that the workers lack).
    That is the cluster's setup, not a run failing: the sweep stops without a
    row for the runs not finished, and the same command resumes it once the
    workers are set up like this process.
    """


class Diverged(BfcbenchError):
    """Training produced a non-finite loss.

    Parameters
    ----------
    step : int
        The optimisation step (counted from 1 over the whole fit) whose loss was
        not finite.
    message : str
        What diverged, for the run's row.
    """

    def __init__(self, step: int, message: str) -> None:
        super().__init__(message)
        self.step = step


class BfcbenchWarning(UserWarning):
    """A numerical fallback or a questionable setting that the user should see."""
