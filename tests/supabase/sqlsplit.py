"""Split an SQL script into statements, as psql does, so that single statements can be skipped.

Only what Supabase's scripts use is understood: ``--`` and (nested) ``/* */`` comments,
quoted strings (``'...'`` with ``''``, ``E'...'`` with backslash escapes), quoted identifiers
(``"\\$user"`` in post-setup is one: its ``$`` must not open a dollar quote), and dollar quotes
(``$$``, ``$func$``). A ``;`` outside all of these ends a statement. psql meta-commands are not
handled: the vendored scripts have none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A dollar-quote tag: $$ or $name$ where name does not start with a digit ($1 is a parameter).
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
# Characters that can start nothing special; a run of them is one piece of code. Word characters
# are left out so that a `$` after a word (an identifier such as a$b) is seen as such.
_PLAIN = re.compile(r"[^-/'\"$;\w]+|\w+")


def split(script: str) -> list[str]:
    """The statements of ``script``, stripped, without their ``;``; comment-only ones dropped."""
    statements: list[str] = []
    current: list[str] = []
    for kind, text in _tokens(script):
        if kind == ";":
            _append(statements, current)
            current = []
        else:
            current.append(text)
    _append(statements, current)
    return statements


def strip_comments(statement: str) -> str:
    """The statement without its comments (quoted text left alone), for matching skip rules."""
    return "".join(" " if kind == "comment" else text for kind, text in _tokens(statement))


def _append(statements: list[str], parts: list[str]) -> None:
    text = "".join(parts).strip()
    if strip_comments(text).strip():
        statements.append(text)


def _tokens(script: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces whose texts concatenate back to ``script``; kind is one of
    ``comment``, ``quoted`` (string, identifier or dollar-quoted body), ``;`` or ``code``."""
    i = 0
    n = len(script)
    while i < n:
        ch = script[i]
        if script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end
            kind = "comment"
        elif script.startswith("/*", i):
            end = _block_comment_end(script, i)
            kind = "comment"
        elif ch == "'":
            escapes = _is_e_prefix(script, i - 1)
            end = _string_end(script, i, backslash_escapes=escapes)
            kind = "quoted"
        elif ch == '"':
            end = _identifier_end(script, i)
            kind = "quoted"
        elif ch == "$" and not _is_ident_char(script, i - 1) and _DOLLAR_TAG.match(script, i):
            tag = _DOLLAR_TAG.match(script, i)
            assert tag is not None
            close = script.find(tag.group(), tag.end())
            end = n if close < 0 else close + len(tag.group())
            kind = "quoted"
        elif ch == ";":
            end = i + 1
            kind = ";"
        else:
            run = _PLAIN.match(script, i + 1)
            end = run.end() if run else i + 1
            kind = "code"
        yield kind, script[i:end]
        i = end


def _is_ident_char(text: str, index: int) -> bool:
    return index >= 0 and (text[index].isalnum() or text[index] in "_$")


def _is_e_prefix(text: str, index: int) -> bool:
    """``E'...'`` (escape string): an E that is a word of its own just before the quote."""
    return index >= 0 and text[index] in "eE" and not _is_ident_char(text, index - 1)


def _block_comment_end(text: str, i: int) -> int:
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _string_end(text: str, i: int, *, backslash_escapes: bool) -> int:
    i += 1
    n = len(text)
    while i < n:
        if backslash_escapes and text[i] == "\\":
            i += 2
        elif text.startswith("''", i):
            i += 2
        elif text[i] == "'":
            return i + 1
        else:
            i += 1
    return n


def _identifier_end(text: str, i: int) -> int:
    i += 1
    n = len(text)
    while i < n:
        if text.startswith('""', i):
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return n
