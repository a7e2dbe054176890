"""The logic behind the notebook widgets, as traitlets models: no browser, no ipywidgets.

Each model is handed the functions that do the real work (send a request, change a rule,
evaluate a flow, scale a service), so it works the same against the sandbox, real AWS, or a
test's stand-in. The views in `views.py` only link widgets to these traits.

    probe = PortProbe(request=lambda url: traffic.request(url, proxy=proxy), host=alb_dns, port=8081)
    probe.probe()        # -> "timed out after 3 s: nothing answered (...)"
    probe.port = 80; probe.probe()
"""

from __future__ import annotations

from typing import Any, Callable

from traitlets import Any as AnyTrait
from traitlets import Bool, HasTraits, Int, List, TraitError, Unicode, validate

from helpers.evaluator.model import Explanation, Verdict


def _blocker_words(e: Explanation) -> str:
    """ "ENI_SG_RULES_MISMATCH (the ALB's security group)": the code, and where when it is known."""
    return f"{e.code} ({e.role})" if e.role else e.code


def verdict_summary(verdict: Verdict) -> str:
    """One line for a verdict: "reachable", "blocked: CODE (where), ...", and how many targets are blocked."""
    codes = list(dict.fromkeys(_blocker_words(e) for e in verdict.explanations))
    head = "reachable" if verdict.reachable else "blocked"
    parts = [f"{head}: {', '.join(codes)}" if codes else head]
    stuck = [leg for leg in verdict.targets if not leg.reachable]
    if stuck:
        leg_codes = list(dict.fromkeys(_blocker_words(e) for leg in stuck for e in leg.explanations))
        parts.append(f"{len(stuck)} of {len(verdict.targets)} targets blocked: {', '.join(leg_codes)}")
    return "; ".join(parts)


def _in_words(result: Any) -> str:
    # helpers.traffic.Outcome says itself in one line; anything else is shown as it prints.
    summary = getattr(result, "summary", None)
    return summary() if callable(summary) else str(result)


class PortProbe(HasTraits):
    """host + port + path -> one HTTP request through `request(url)`; the outcome in words.

    `history` keeps every probe, so a learner can put `:8081` and `:80` side by side."""

    host = Unicode("")
    port = Int(80)
    path = Unicode("/")
    outcome = Unicode("")  # the last result in words
    result = AnyTrait(None)  # the last result itself (e.g. a helpers.traffic.Outcome)
    busy = Bool(False)  # a request is on its way (the view disables its button)
    history = List()  # [(url, outcome), ...], oldest first

    def __init__(self, request: Callable[[str], Any], **traits) -> None:
        super().__init__(**traits)
        self._request = request

    @validate("port")
    def _valid_port(self, proposal):
        if not 1 <= proposal.value <= 65535:
            raise TraitError(f"port must be 1-65535, got {proposal.value}")
        return proposal.value

    @validate("path")
    def _valid_path(self, proposal):
        if not proposal.value.startswith("/"):
            raise TraitError(f"path must start with '/', got {proposal.value!r}")
        return proposal.value

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"  # the port always shown: it is the lesson

    def probe(self) -> str:
        """Send one request now; store and return the outcome in words."""
        if not self.host.strip():
            self.outcome = "enter a host name first (the ALB's DNS name, or an instance's public name)"
            return self.outcome
        url = self.url
        self.busy = True
        try:
            self.result = self._request(url)
            self.outcome = _in_words(self.result)
        # A button callback's exception disappears into the widget log; say it where it is seen.
        except Exception as error:  # noqa: BLE001
            self.result = error
            self.outcome = f"error: {type(error).__name__}: {error}"
        finally:
            self.busy = False
        self.history = [*self.history, (url, self.outcome)]
        return self.outcome


class _Applied(HasTraits):
    """A model whose trait changes are carried out by a function; if it fails, the trait goes
    back to its old value and `error` says why (so the control never shows a state that is not)."""

    error = Unicode("")

    def _carry_out(self, change, action: Callable[[], Any]) -> bool:
        if getattr(self, "_reverting", False):
            return False
        try:
            action()
        except Exception as error:  # noqa: BLE001 - shown to the learner, see PortProbe.probe
            self.error = f"{type(error).__name__}: {error}"
            self._reverting = True
            try:
                setattr(self, change.name, change.old)
            finally:
                self._reverting = False
            return False
        self.error = ""
        return True


class RuleToggle(_Applied):
    """One SG or NACL rule, switched on and off through `add()` / `remove()`; after each change
    the flow is evaluated again with `evaluate()` (-> a Verdict) and summarized."""

    description = Unicode("")  # what the rule is, for the view's label
    enabled = Bool(False)  # the rule is in place
    verdict = AnyTrait(None)  # the latest Verdict
    summary = Unicode("")  # verdict_summary(verdict)

    def __init__(self, add: Callable[[], Any], remove: Callable[[], Any], evaluate: Callable[[], Verdict], *,
                 enabled: bool = False, description: str = "") -> None:
        super().__init__(enabled=enabled, description=description)
        self._add, self._remove, self._evaluate = add, remove, evaluate
        self.refresh()
        # Observe only now: setting the initial state must not add or remove anything.
        self.observe(self._on_enabled, "enabled")

    def refresh(self) -> None:
        """Evaluate the flow again (e.g. after a change made elsewhere)."""
        try:
            self.verdict = self._evaluate()
        except Exception as error:  # noqa: BLE001 - shown to the learner, see PortProbe.probe
            self.error = f"could not evaluate: {type(error).__name__}: {error}"
            return
        self.summary = verdict_summary(self.verdict)

    def _on_enabled(self, change) -> None:
        if self._carry_out(change, self._add if change.new else self._remove):
            self.refresh()


class ServiceScaler(_Applied):
    """An ECS service's desired count; each change calls `scale(count)`. What `scale` returns
    (e.g. a line about the deployment) becomes `status`."""

    desired = Int(1)
    maximum = Int(10)  # the largest count offered (bounds the view's slider)
    status = Unicode("")

    def __init__(self, scale: Callable[[int], Any], *, desired: int = 1, maximum: int = 10) -> None:
        super().__init__(maximum=maximum)
        self.desired = desired  # validated against `maximum`, so set after it
        self._scale = scale
        self.observe(self._on_desired, "desired")

    @validate("desired")
    def _valid_desired(self, proposal):
        if not 0 <= proposal.value <= self.maximum:
            raise TraitError(f"desired count must be 0-{self.maximum}, got {proposal.value}")
        return proposal.value

    def _on_desired(self, change) -> None:
        answer: list = []
        if self._carry_out(change, lambda: answer.append(self._scale(change.new))):
            self.status = f"desired count {change.new}" if answer[0] is None else _in_words(answer[0])
