"""SQL text helpers for steps: ``{name}`` substitution and splitting a script into statements."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot.tokens import Tokenizer, TokenType

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def substitute(sql: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` with ``values[name]``; unknown names (and JSON braces) are left as they are."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), sql)


def split_statements(sql: str) -> list[tuple[int, str]]:
    """``(first_line, text)`` of each statement in ``sql``, cut at top-level semicolons.

    The original text is kept (no re-formatting); a statement starts at its first token.
    """
    try:
        tokens = Tokenizer().tokenize(sql)
    except Exception:  # noqa: BLE001 - let the database report the syntax error on the whole text
        return [(1, sql)]
    spans, start = [], None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if start is not None:
                spans.append((start, token.start))
            start = None
        elif start is None:
            start = token.start
    if start is not None:
        spans.append((start, len(sql)))
    return [(sql.count("\n", 0, a) + 1, sql[a:b].strip()) for a, b in spans]
