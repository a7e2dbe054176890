"""The ECS agent's connection to ECS: which instances' agents can reach the ECS endpoints now.

The agent registers its instance and keeps a connection to the regional ECS endpoints over HTTPS
(FACTS.md "The agent must reach ECS"). The evaluator decides whether the network lets it
(`helpers.evaluator.agent_reaches_ecs`: SGs, NACLs, routes, NAT gateway, interface endpoints);
the scheduler acts on the answer (scheduler.py `_join_instances`):

- no path, not registered yet: the instance runs in EC2 but never joins the cluster;
- no path, registered: `agentConnected` false - no new tasks, its running tasks keep running;
- path restored: the agent connects at the next reconcile after the change (the snapshot is
  re-read after every change, so within a fraction of a second here; AWS documents no delay).

`links.reachable()` is called without `ctx.lock` (it may wait for a fresh snapshot).
"""

from __future__ import annotations

import logging

from helpers.evaluator import agent_reaches_ecs

log = logging.getLogger("helpers.sandbox.agent_link")


class AgentLinks:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._said: dict[str, bool] = {}  # instance id -> last answer logged (say each change once)

    def reset(self) -> None:
        self._said.clear()

    def reachable(self) -> dict[str, bool]:
        """Running instance id -> can its agent reach ECS now. An instance the snapshot does not
        show yet is missing: the caller treats it as not connected (yet)."""
        with self.ctx.lock:
            if not any(instance.state == "running" for instance in self.ctx.ec2().all_instances()):
                # No agent to ask about: a new or emptied region needs no snapshot read (under load
                # the first one takes seconds, and stopping a sandbox waited for it).
                return {}
        snapshot = self.ctx.snapshot()
        answers = {}
        for instance in snapshot.instances:
            if instance.state != "running":
                continue
            verdict = agent_reaches_ecs(snapshot, instance.id)
            instance_id = instance.id
            answers[instance_id] = verdict.reachable
            if self._said.get(instance_id) != answers[instance_id]:
                self._said[instance_id] = answers[instance_id]
                if not answers[instance_id]:
                    log.info("the ECS agent on %s cannot reach ECS: %s", instance_id,
                             "; ".join(e.message for e in verdict.explanations))
        return answers
