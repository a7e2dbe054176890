"""The two ways a fix is installed on a moto class: wrap a method, or check its arguments first."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


def wrap(cls: type, name: str, fix: Callable) -> None:
    """Replace cls.<name> by `fix(original, self, *args, **kwargs)`."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def patched(self, *args, **kwargs):
        return fix(original, self, *args, **kwargs)

    setattr(cls, name, patched)


def check_before(cls: type, name: str, check: Callable[[Any, dict[str, Any]], None]) -> None:
    """Run `check(self, arguments)` before cls.<name>; `arguments` maps every parameter name
    (defaults included) to its value, however moto's caller passed it."""
    signature = inspect.signature(getattr(cls, name))

    def checked(original, self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        check(self, bound.arguments)
        return original(self, *args, **kwargs)

    wrap(cls, name, checked)
