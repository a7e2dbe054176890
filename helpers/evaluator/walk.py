"""PLACEHOLDER - the evaluator helper replaces this file. See helpers/evaluator/model.py for the types."""

from __future__ import annotations


def evaluate(snapshot, flow):
    raise NotImplementedError("evaluator not built yet")


def evaluate_alb_to_target(snapshot, load_balancer_arn: str, target_id: str, port: int):
    raise NotImplementedError("evaluator not built yet")


def route_request(snapshot, listener_arn: str, *, path: str, host: str | None, method: str = "GET",
                  headers: dict | None = None, query: dict | None = None, source_ip: str | None = None):
    raise NotImplementedError("evaluator not built yet")
