"""boto3 clients for either backend: the local sandbox or (opt-in) a real AWS account.

Everything in the course talks to AWS through `Clients`, so the same code reads the
sandbox and a real account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
# moto's default account; the sandbox never talks to a real account.
SANDBOX_ACCOUNT_ID = "123456789012"
SANDBOX_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}

# Every boto3 session reads botocore's data files (endpoints, service models) again from disk:
# about 0.2 s of JSON parsing per session and service. The files never change while we run, and
# botocore already shares what its loader returns within a session, so one loader per data path
# serves every session of the process (ours, and the three moto builds while importing EC2).


class _SearchPaths(list):
    """A loader's search paths; each boto3 session appends its own data path, kept once."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


@cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    loader = botocore.loaders.create_loader(search_path_string)
    loader._search_paths = _SearchPaths(loader.search_paths)
    return loader


botocore.session.create_loader = _shared_loader


def fail_fast_config(user_agent_extra: str | None = None) -> Config:
    """moto's server turns its own bugs into HTTP 500, which botocore retries for
    a long time; against the sandbox one attempt is the honest answer."""
    return Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                  user_agent_extra=user_agent_extra, max_pool_connections=20)


@dataclass
class Clients:
    """Lazily-built boto3 clients for one endpoint (sandbox) or the default chain (AWS)."""

    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    # Marks this client's requests (the sandbox tells its own snapshot reads from changes this way).
    user_agent_extra: str | None = None
    _session: boto3.session.Session | None = field(default=None, repr=False)

    @property
    def is_sandbox(self) -> bool:
        return self.endpoint_url is not None

    @cached_property
    def session(self) -> boto3.session.Session:
        if self._session is not None:
            return self._session
        if self.is_sandbox:
            return boto3.session.Session(region_name=self.region, **SANDBOX_CREDENTIALS)
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str):
        if self.is_sandbox:
            return self.session.client(service, endpoint_url=self.endpoint_url,
                                       config=fail_fast_config(self.user_agent_extra))
        return self.session.client(service)

    @cached_property
    def ec2(self):
        return self.client("ec2")

    @cached_property
    def ecs(self):
        return self.client("ecs")

    @cached_property
    def elbv2(self):
        return self.client("elbv2")

    @cached_property
    def iam(self):
        return self.client("iam")

    @cached_property
    def ssm(self):
        return self.client("ssm")

    @cached_property
    def sts(self):
        return self.client("sts")
