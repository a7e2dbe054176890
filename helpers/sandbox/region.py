"""The sandbox region: one process that hosts moto's API plus the behaviour AWS has and moto lacks.

    control plane   moto's server on a free loopback port (boto3/CLI talk to it unchanged)
    moto_fixes      small corrections so moto answers as AWS does, one module per service
    containers      real HTTP server processes, one per running task ("Tomcat on 8081")
    scheduler       the ECS agent and service scheduler: join instances, place tasks, pick host ports
    health          the ELB health checker (the target state machine is target_health.py)
    dataplane       a SOCKS5 proxy that is "the internet", and the ALB emulation behind it

moto and the components built on it are imported inside the methods that need them, on
purpose: moto takes seconds to import, and the CLI imports this module just to read options.

Threads share moto's in-memory models. `SandboxContext.lock` is held while moto serves a
request and whenever a sandbox thread reads or changes moto's models directly; never hold it
while calling the API (that request would wait for the lock forever).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

from helpers.backend import DEFAULT_REGION, SANDBOX_ACCOUNT_ID, Clients
from helpers.evaluator.snapshot import PARTS, read_parts, snapshot_from_parts
from helpers.facts import AGENT_HOST_PORT_RANGE as DEFAULT_HOST_PORT_RANGE  # the ECS agent's (Linux's) range
from helpers.facts import PORT_MAX, PORT_MIN
from helpers.sandbox.idle import Usage
from helpers.sandbox.snapshot_parts import parts_changed, service_of
from helpers.sandbox.timescale import TimeScale

SNAPSHOT_USER_AGENT = "ecs-alb-lab-snapshot"
USAGE_PATH = "/_sandbox/usage"  # admin.py

log = logging.getLogger("helpers.sandbox")


@dataclass
class SandboxOptions:
    region: str = DEFAULT_REGION
    time_scale: float = TimeScale().factor
    host_port_range: tuple[int, int] = DEFAULT_HOST_PORT_RANGE
    # How often the scheduler reconciles, in real seconds (AWS's own cadence is not documented).
    reconcile_interval: float = 0.1

    def __post_init__(self) -> None:
        low, high = self.host_port_range
        if not (PORT_MIN <= low <= high <= PORT_MAX):
            raise ValueError(f"host port range must be within {PORT_MIN}-{PORT_MAX} and low <= high, got {low}-{high}")
        TimeScale(self.time_scale)  # validates


@dataclass
class SandboxContext:
    """What every sandbox component shares."""

    options: SandboxOptions
    endpoint_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    account_id: str = SANDBOX_ACCOUNT_ID
    components: dict[str, Any] = field(default_factory=dict)
    # Snapshot part -> bumped by every change that may touch it (see `changed`): a snapshot is re-read
    # only after a change, and then only the parts that changed (snapshot_parts.py).
    part_generations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    usage: Usage = field(default_factory=Usage)  # who uses the sandbox, and when it was last used (idle.py)
    _snapshot: tuple[int, Any] | None = field(default=None, repr=False)
    _parts: dict[str, tuple[int, dict]] = field(default_factory=dict, repr=False)  # part -> (its generation, fields)
    _generation_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _snapshot_reading: bool = field(default=False, repr=False)
    _snapshot_ready: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _clients: dict[str, Clients] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def generation(self) -> int:
        """Grows with every change to the region (the keys never change, so this sum is safe
        while another thread bumps a part)."""
        return sum(self.part_generations.values())

    @property
    def region(self) -> str:
        return self.options.region

    @property
    def timescale(self) -> TimeScale:
        return TimeScale(self.options.time_scale)

    def clients(self, *, purpose: str = "sandbox") -> Clients:
        """boto3 clients for this sandbox, built once and shared (boto3 clients are thread-safe;
        building them is slow). `purpose="snapshot"` marks requests that only read."""
        with self._clients_lock:
            clients = self._clients.get(purpose)
            if clients is None:
                clients = Clients(endpoint_url=self.endpoint_url, region=self.region,
                                  user_agent_extra=SNAPSHOT_USER_AGENT if purpose == "snapshot" else None)
                for service in ("ec2", "ecs", "elbv2", "iam", "ssm"):
                    getattr(clients, service)  # build now, under the lock: sessions are not thread-safe
                self._clients[purpose] = clients
            return clients

    # moto's in-memory backends for this account and region. Hold `lock` while using them.
    def ec2(self):
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account_id][self.region]

    def ecs(self):
        from moto.ecs.models import ecs_backends

        return ecs_backends[self.account_id][self.region]

    def elbv2(self):
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[self.account_id][self.region]

    def iam(self):
        from moto.iam.models import iam_backends

        return iam_backends[self.account_id]["global"]

    def changed(self, parts=None) -> None:
        """Something in the region changed: the next `snapshot()` reads it again (and the
        refresher starts reading at once, so traffic rarely waits for it). `parts`: the snapshot
        parts it may have touched (snapshot_parts.py); None: all of them."""
        parts = PARTS if parts is None else parts
        if not parts:
            return
        with self._generation_lock:
            for part in parts:
                self.part_generations[part] += 1
        with self._snapshot_ready:
            self._snapshot_ready.notify_all()

    def refresh_snapshots(self, stop: threading.Event) -> None:
        """Keep the snapshot current: read it again soon after every change. Runs in a thread."""
        seen = self.generation
        while not stop.is_set():
            with self._snapshot_ready:
                self._snapshot_ready.wait_for(lambda: stop.is_set() or self.generation != seen, timeout=1.0)
            if stop.is_set():
                return
            if self.generation == seen:
                continue
            stop.wait(0.02)  # let a burst of changes (a stack being built) settle first
            seen = self.generation
            try:
                self.snapshot()
            except Exception:  # the API may be stopping; the next caller reads again anyway
                log.debug("background snapshot read failed", exc_info=True)

    def snapshot(self):
        """The evaluator's view of the region, as of the latest change.

        Read through the API (never call this while holding `lock`), and only again after a
        change, and then only the parts that changed: one thread reads while the others wait for
        that read, so a burst of callers costs one read, and a region at rest costs none.
        """
        wanted = self.generation
        with self._snapshot_ready:
            while True:
                cached = self._snapshot
                if cached is not None and cached[0] >= wanted:
                    return cached[1]
                if not self._snapshot_reading:
                    self._snapshot_reading = True
                    break
                self._snapshot_ready.wait(1.0)
        try:
            with self._generation_lock:  # changes that land during the read trigger another one
                part_generations = dict(self.part_generations)
            reading = sum(part_generations.values())
            stale = [part for part in PARTS if part not in self._parts or self._parts[part][0] < part_generations[part]]
            started = time.monotonic()
            fresh = read_parts(self.clients(purpose="snapshot"), stale) if stale else {}
            took = time.monotonic() - started
            if took > 1.0:
                log.warning("reading %d of the region's %d snapshot parts took %.1f s", len(stale), len(PARTS), took)
            for part, fields in fresh.items():
                self._parts[part] = (part_generations[part], fields)
            snap = snapshot_from_parts({part: self._parts[part][1] for part in PARTS}, region=self.region)
            with self._snapshot_ready:
                self._snapshot = (reading, snap)
        finally:
            with self._snapshot_ready:
                self._snapshot_reading = False
                self._snapshot_ready.notify_all()
        return snap

    def invalidate_snapshot(self) -> None:
        self.changed()


READ_ONLY_ACTIONS = ("Describe", "List", "Get")


def _action(environ) -> str:
    """The API action of a request: JSON protocols (ECS) name it in X-Amz-Target, query
    protocols (EC2, ELBv2, IAM) in the form body, which is read here and put back for moto."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    query = environ.get("QUERY_STRING", "") + "&" + body.decode("utf-8", "replace")
    return (parse_qs(query).get("Action") or [""])[0]


def _changing_action(environ) -> str | None:
    """The action of a request that could change the region, or None: the snapshot's own reads
    and Describe/List/Get calls cannot."""
    if SNAPSHOT_USER_AGENT in environ.get("HTTP_USER_AGENT", ""):
        return None
    action = _action(environ)
    return None if action.startswith(READ_ONLY_ACTIONS) else action


def _locked_app(app: Callable, ctx: SandboxContext) -> Callable:
    """Serve moto under ctx.lock, and count every request that may change the region, with the
    snapshot parts it may change."""

    def serve(environ, start_response):
        action = _changing_action(environ)  # before moto reads the body
        with ctx.lock:
            try:
                return app(environ, start_response)
            finally:
                if action is not None:
                    ctx.changed(parts_changed(service_of(environ), action))

    return serve


def _noting_use(app: Callable, ctx: SandboxContext) -> Callable:
    """Every request from outside is a use of the sandbox (idle.py); its own snapshot reads and a
    look at the usage itself are not."""

    def serve(environ, start_response):
        if SNAPSHOT_USER_AGENT not in environ.get("HTTP_USER_AGENT", "") and environ.get("PATH_INFO") != USAGE_PATH:
            ctx.usage.touch()
        return app(environ, start_response)

    return serve


class Sandbox:
    """A local AWS region. `start()` returns once every part is serving; `stop()` ends them all."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.ctx = SandboxContext(options or SandboxOptions())
        self._server = None
        self._server_thread: threading.Thread | None = None
        self._started: list[Any] = []
        self._stopping = threading.Event()
        self._refresher: threading.Thread | None = None
        self.closing = False  # ending (idle): it no longer answers as healthy, so no one reuses it

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        from werkzeug.serving import make_server

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from moto.moto_server.threaded_moto_server import MotoRequestHandler

        from helpers.sandbox import moto_fixes

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_fixes.apply(self.ctx)
        # moto's models live in module globals: a sandbox started in a process that ran one
        # before starts empty, like a new region.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

        from helpers.sandbox.admin import with_admin_routes

        app = _noting_use(with_admin_routes(_locked_app(DomainDispatcherApplication(create_backend_app), self.ctx), self),
                          self.ctx)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        host, port = self._server.server_address[:2]
        self.ctx.endpoint_url = f"http://{host}:{port}"
        # Polled every 0.05 s, not the default 0.5 s: stop() waits for the next poll (the tests start dozens).
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                               name="moto-server", daemon=True)
        self._server_thread.start()
        self._refresher = threading.Thread(target=self.ctx.refresh_snapshots, args=(self._stopping,),
                                           name="snapshot-refresher", daemon=True)
        self._refresher.start()

        try:
            for name, component in self._components():
                self.ctx.components[name] = component
                component.start()
                self._started.append(component)
        except BaseException:
            self.stop()
            raise
        return self

    def _components(self):
        from helpers.sandbox.containers import ContainerRuntime
        from helpers.sandbox.dataplane import DataPlane
        from helpers.sandbox.health import HealthChecker
        from helpers.sandbox.scheduler import EcsScheduler

        ctx = self.ctx
        yield "containers", ContainerRuntime(ctx)
        yield "scheduler", EcsScheduler(ctx)
        yield "health", HealthChecker(ctx)
        yield "dataplane", DataPlane(ctx)

    def stop(self) -> None:
        self._stopping.set()
        with self.ctx._snapshot_ready:
            self.ctx._snapshot_ready.notify_all()  # the refresher waits on it: wake it now, not in a second
        if self._refresher is not None:
            self._refresher.join(timeout=5)
            self._refresher = None
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception:  # keep stopping the rest; report what failed
                log.exception("stopping %s failed", type(component).__name__)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what a client needs -----------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return self.ctx.endpoint_url

    @property
    def socks_proxy(self) -> str | None:
        dataplane = self.ctx.components.get("dataplane")
        return getattr(dataplane, "socks_proxy", None)

    def clients(self) -> Clients:
        return self.ctx.clients()

    def info(self) -> dict[str, Any]:
        """The ready line's content."""
        return {
            "endpoint_url": self.endpoint_url,
            "socks_proxy": self.socks_proxy,
            "region": self.ctx.region,
            "account_id": self.ctx.account_id,
            "time_scale": self.ctx.options.time_scale,
            "host_port_range": list(self.ctx.options.host_port_range),
        }

    def open_connections(self) -> int:
        dataplane = self.ctx.components.get("dataplane")
        return dataplane.server.connection_count if dataplane is not None else 0

    def idle_seconds(self) -> float:
        """How long nobody has used the sandbox (idle.py): 0 while a client process lives or a
        data-plane connection is open."""
        return self.ctx.usage.idle_seconds(self.open_connections())

    def reset(self) -> None:
        """Forget every resource (moto's reset) and every component's state."""
        from moto.moto_api._internal.models import moto_api_backend

        for component in reversed(self._started):
            component.reset()
        with self.ctx.lock:
            moto_api_backend.reset()
        self.ctx.changed()
