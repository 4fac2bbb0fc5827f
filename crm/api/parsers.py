"""The JSON request parser: strict about text that no database column can hold."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _text_problem(value: Any) -> str | None:
    """Why ``value`` (or a key or item inside it) cannot be stored as text, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "Text must not contain NUL (\\u0000) characters."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Text must be valid Unicode (a lone surrogate escape was found)."
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing NUL characters and lone surrogates anywhere in the body,
    and nesting deeper than Python's decoder can follow.

    JSON allows both (``"\\u0000"``, ``"\\ud800"``), but PostgreSQL cannot store a NUL in
    text or jsonb and UTF-8 cannot encode a lone surrogate: without this check such a body
    reaches the database and fails there with a 500 instead of a 400. A body nested some
    thousand levels deep makes the decoder raise RecursionError, which DRF does not catch.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        problem = _text_problem(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data
