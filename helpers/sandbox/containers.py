"""PLACEHOLDER - replaced by its implementation. A sandbox component: constructed with the
SandboxContext, started and stopped by helpers.sandbox.region.Sandbox (see docs/ARCHITECTURE.md)."""

from __future__ import annotations


class ContainerRuntime:
    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
