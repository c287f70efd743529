"""Escaping of names and parameter strings for Markdown, HTML and matplotlib.

Task and learner labels carry parameter values (``kernel-poly[degree=4]``), and a
plugin may use any characters in its names; every reader that writes markup
passes them through one of these functions.
"""

from __future__ import annotations

import html

# Characters that change the meaning of GitHub Markdown text inside a paragraph
# or a table cell. Brackets are safe: a report defines no link references.
_MARKDOWN_SPECIAL = "\\`*_<>|&~$#"


def markdown_escape(text: object) -> str:
    """``text`` with a backslash before every Markdown-significant character."""
    return "".join(
        f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in str(text)
    )


def markdown_rows(
    rows: list[dict[str, object]], columns: list[str]
) -> tuple[list[dict[str, str]], list[str]]:
    """Rows and column names with every key and value Markdown-escaped.

    Missing values become empty cells.
    """
    escaped = [
        {
            markdown_escape(column): markdown_escape(
                "" if row.get(column) is None else row.get(column)
            )
            for column in columns
        }
        for row in rows
    ]
    return escaped, [markdown_escape(column) for column in columns]


def html_escape(text: object) -> str:
    """``text`` escaped for HTML element content and quoted attribute values."""
    return html.escape(str(text), quote=True)


def plot_text(text: object) -> str:
    """``text`` safe as a matplotlib label: no mathtext, not hidden from legends.

    Dollar signs would start mathtext (and an unbalanced one raises), and a
    legend leaves out labels that start with an underscore.
    """
    value = str(text).replace("$", r"\$")
    return f" {value}" if value.startswith("_") else value
