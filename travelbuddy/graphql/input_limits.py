"""Bounds on string inputs, so that oversized or invalid text (a lone surrogate, a
control character: see `travelbuddy.domain.text`) is a typed error and never stored."""

from __future__ import annotations

import dataclasses
from typing import Any

from travelbuddy.domain.errors import Problem
from travelbuddy.domain.text import text_fault

MAX_TEXT_LENGTH = 200
TOO_LONG = "TOO_LONG"
INVALID_TEXT = "INVALID_TEXT"


def text_problems(value: Any, path: str = "input") -> list[Problem]:
    """Every string in a strawberry input (nested inputs and lists too) that is out of bounds."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            return [Problem(code=TOO_LONG, field=path,
                            message=f"{path} is longer than {MAX_TEXT_LENGTH} characters")]
        if (fault := text_fault(value)) is not None:
            return [Problem(code=INVALID_TEXT, field=path, message=f"{path} contains {fault}")]
        return []
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in text_problems(item, f"{path}.{i}")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            p
            for f in dataclasses.fields(value)
            for p in text_problems(getattr(value, f.name), f"{path}.{_camel(f.name)}")
        ]
    return []


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)
