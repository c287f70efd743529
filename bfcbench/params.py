"""Declared parameters of tasks and learners.

A task or learner lists its parameters once, as :class:`Param` objects; parsing of
``KEY=VALUE`` strings from the command line, type and range checks, defaults and
the readable labels used in tables (``kernel-poly[degree=4]``) all come from that
one declaration.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bfcbench.errors import ConfigError

AUTO = "auto"

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One declared hyperparameter or task parameter.

    Parameters
    ----------
    name : str
        The key used on the command line and in stored rows.
    type : type
        One of ``int``, ``float``, ``str`` or ``bool``.
    default : object
        The value used when none is given; ``"auto"`` where ``auto`` is allowed
        and the owner chooses the value itself on validation data.
    help : str
        One line for ``bfcbench list``.
    choices : tuple of str, optional
        The only allowed values of a string parameter.
    low, high : float, optional
        Bounds of a numeric parameter.
    low_open, high_open : bool, default=False
        Whether the bounds themselves are excluded.
    auto : bool, default=False
        Whether the string ``"auto"`` is accepted besides numbers.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    auto: bool = False

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and listings."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        text = _TYPE_NAMES[self.type]
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            text += f" in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        elif self.low is not None:
            text += f" {'>' if self.low_open else '>='} {_fmt(self.low)}"
        elif self.high is not None:
            text += f" {'<' if self.high_open else '<='} {_fmt(self.high)}"
        if self.auto:
            text += f" or {AUTO!r}"
        return text

    def type_name(self) -> str:
        """Short type for listings: ``int``, ``float``, ``str``, ``bool``."""
        return self.type.__name__

    def parse(self, text: str, owner: str) -> Any:
        """Convert a command-line string to a checked value.

        Parameters
        ----------
        text : str
            The ``VALUE`` of ``KEY=VALUE``.
        owner : str
            Who declares the parameter, for the error message
            (``"task 'hierarchical'"``).

        Returns
        -------
        object
            The value, of the declared type (or ``"auto"``).
        """
        stripped = text.strip()
        if self.auto and stripped.lower() == AUTO:
            return AUTO
        try:
            if self.type is bool:
                lowered = stripped.lower()
                if lowered not in _TRUE | _FALSE:
                    raise ValueError(text)
                value: Any = lowered in _TRUE
            elif self.type is int:
                value = int(stripped)
            elif self.type is float:
                value = float(stripped)
            else:
                value = stripped
        except ValueError:
            raise self._error(text, owner) from None
        return self.check(value, owner, shown=text)

    def check(self, value: Any, owner: str, shown: Any = None) -> Any:
        """Check a value given from Python; ints are accepted for floats.

        Parameters
        ----------
        value : object
            The value to check.
        owner : str
            Who declares the parameter, for the error message.
        shown : object, optional
            What the user typed, shown in the error message instead of ``value``.

        Returns
        -------
        object
            The value, converted to the declared type.
        """
        received = value if shown is None else shown
        if self.auto and value == AUTO:
            return AUTO
        if (
            self.type is float
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            value = float(value)
        if self.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, self.type) or (
            self.type is not bool and isinstance(value, bool)
        ):
            raise self._error(received, owner)
        if self.type is float and not math.isfinite(value):
            raise self._error(received, owner)
        if self.choices is not None and value not in self.choices:
            raise self._error(received, owner, suggest=self.choices)
        if self.low is not None and (
            value < self.low or (self.low_open and value == self.low)
        ):
            raise self._error(received, owner)
        if self.high is not None and (
            value > self.high or (self.high_open and value == self.high)
        ):
            raise self._error(received, owner)
        return value

    def _error(
        self, value: Any, owner: str, suggest: Sequence[str] | None = None
    ) -> ConfigError:
        hint = did_you_mean(str(value), suggest) if suggest else ""
        return ConfigError(
            f"{owner} parameter {self.name!r}: got {value!r}; "
            f"allowed: {self.allowed()}.{hint}"
        )


def _fmt(number: float) -> str:
    return f"{number:g}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def resolve(
    declared: Sequence[Param], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Fill defaults and check every given value.

    Parameters
    ----------
    declared : sequence of Param
        What the owner declares.
    given : mapping
        Values given by the user: strings (from the command line) are parsed,
        anything else is checked.
    owner : str
        Who declares the parameters, for error messages.

    Returns
    -------
    dict
        One value per declared parameter, in declaration order.
    """
    by_name = {param.name: param for param in declared}
    for key in given:
        if key not in by_name:
            names = ", ".join(by_name) or "none"
            raise ConfigError(
                f"{owner} has no parameter {key!r}; its parameters: {names}."
                + did_you_mean(key, by_name)
            )
    values = {}
    for param in declared:
        if param.name in given:
            raw = given[param.name]
            values[param.name] = (
                param.parse(raw, owner)
                if isinstance(raw, str)
                else param.check(raw, owner)
            )
        else:
            values[param.name] = param.default
    return values


def parse_assignments(items: Sequence[str], option: str) -> dict[str, str]:
    """Split ``KEY=VALUE`` strings from the command line.

    Parameters
    ----------
    items : sequence of str
        The strings as typed.
    option : str
        The option they came from (``"--task-param"``), for error messages.

    Returns
    -------
    dict
        ``{KEY: VALUE}``, both stripped. A key given twice is refused: with two
        values for one parameter, which one a run used would be a guess.
    """
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f"{option}: got {item!r}; allowed: KEY=VALUE with a non-empty "
                "key and value."
            )
        if key.strip() in pairs:
            raise ConfigError(
                f"{option}: got {key.strip()}={pairs[key.strip()]} and {item!r}; "
                "allowed: each key once."
            )
        pairs[key.strip()] = value.strip()
    return pairs


def canonical_json(values: Mapping[str, Any]) -> str:
    """JSON with sorted keys and no spaces: the stored form of parameter sets."""
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"))


def label(name: str, values: Mapping[str, Any], declared: Sequence[Param]) -> str:
    """Readable name of a parameter combination: ``name[key=value,...]``.

    Only values that differ from their defaults are shown, so a plain name means
    "at its defaults".
    """
    changed = [
        f"{param.name}={_show(values[param.name])}"
        for param in declared
        if param.name in values and values[param.name] != param.default
    ]
    return f"{name}[{','.join(changed)}]" if changed else name


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
