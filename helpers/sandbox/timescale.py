"""One clock for every AWS delay the sandbox imitates.

AWS's health-check interval is 30 s and its deregistration delay 300 s; a notebook cannot
wait that long. The sandbox keeps AWS's numbers in the API (what you configure and read back
is what AWS would show) and runs them `factor` times faster: with the default 0.02, one AWS
second lasts 20 ms, a 30 s interval 0.6 s and a 300 s delay 6 s.

It shortens only what AWS waits on purpose (intervals, delays, the timeout of a packet that was
dropped), never a wait for real work: the ALB gives a target that is there its full connect and
idle timeouts in real seconds, so a slow answer on a busy machine is not turned into a 504.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FACTOR = 0.02


@dataclass(frozen=True)
class TimeScale:
    factor: float = DEFAULT_FACTOR

    def __post_init__(self) -> None:
        if not 0 < self.factor <= 1:
            raise ValueError(f"time scale must be in (0, 1], got {self.factor}")

    def real(self, aws_seconds: float) -> float:
        """Real seconds the sandbox waits for `aws_seconds` of AWS time."""
        return aws_seconds * self.factor
