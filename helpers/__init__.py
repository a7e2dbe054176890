"""Helpers for the ECS + ALB dynamic-port course.

Kept import-light on purpose: the sandbox's container processes import this package,
and they must start in milliseconds. Import submodules where you need them:

    from helpers.sandbox import ensure_sandbox
    from helpers.backend import Clients
"""

__version__ = "0.1.0"
