"""One model of the network, used everywhere: the data plane, health checks, `explain`, the audit
and the diagrams all ask it, and nothing re-decides a rule.

    snap = read_snapshot(clients)                 # read once through boto3 (sandbox or AWS)
    verdict = evaluate(snap, Flow("my-alb-1.us-east-1.elb.amazonaws.com", 80))
    verdict.reachable, verdict.hops, verdict.explanations
"""

from helpers.evaluator.model import (  # noqa: F401
    INTERNET_CLIENT_IP,
    Explanation,
    Flow,
    Hop,
    RuleMatch,
    TargetLeg,
    Verdict,
)
from helpers.evaluator.ecs_reach import EcsReach, agent_reaches_ecs  # noqa: F401
from helpers.evaluator.snapshot import Snapshot, read_snapshot  # noqa: F401
from helpers.evaluator.walk import evaluate, evaluate_alb_to_target, route_request  # noqa: F401
