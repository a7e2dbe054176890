"""PLACEHOLDER - replaced by its implementation (see docs/ARCHITECTURE.md)."""


def apply(ctx) -> None:
    pass
