"""Send HTTP requests the way a learner's browser would, and say in words what happened.

    out = request("http://lab-alb-123.us-east-1.elb.amazonaws.com/", proxy=sandbox.socks_proxy)
    out.summary()   # "200 OK - answered by task 1a2b3c4d on i-0abc... host port 32768 -> container port 8081"

In the sandbox every request goes through its SOCKS5 proxy ("the internet"): the proxy resolves the name
inside the sandbox and the network behaves as AWS's does - a dropped packet is a timeout, a closed port
is refused, the load balancer's own errors come with `Server: awselb/2.0`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Literal

import httpcore
import httpx

Kind = Literal["answered", "timeout", "refused", "alb_error", "unresolved", "error"]

ALB_SERVER = "awselb"
# What each error the load balancer itself returns means (ALB guide, "Troubleshoot your Application
# Load Balancers").
ALB_ERRORS = {
    400: "the request was not valid HTTP",
    500: "the load balancer failed (in the sandbox: a fault in the sandbox itself)",
    502: "a target refused the connection, reset it, or sent a malformed response",
    503: "no registered targets",
    504: ("no target answered in time (a security group or network ACL between the load balancer and "
          "the targets, or a target slower than the idle timeout)"),
}


@dataclass(frozen=True)
class Outcome:
    """One request's result. `summary()` says it in words."""

    url: str
    kind: Kind
    timeout: float  # the client's timeout, seconds
    elapsed: float  # seconds until the answer or the failure
    status: int | None = None
    reason: str = ""
    server: str | None = None  # the Server header
    location: str | None = None  # the Location header of a redirect
    # Who answered, from the container page (helpers.sandbox.container_app's JSON)
    task_id: str | None = None
    instance_id: str | None = None
    host_port: int | None = None
    container_port: int | None = None
    detail: str = ""  # the underlying error
    connected: bool = False  # for a timeout: the connection was made, the response did not come

    @property
    def from_load_balancer(self) -> bool:
        return (self.server or "").startswith(ALB_SERVER)

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line, the same for the same result (no timings)."""
        if self.kind == "answered":
            head = f"{self.status} {self.reason}".strip()
            if self.task_id:
                return (f"{head} - answered by task {short_task_id(self.task_id)} on {self.instance_id} "
                        f"host port {self.host_port} -> container port {self.container_port}")
            if self.location:
                return f"{head} - redirected to {self.location}"
            if self.from_load_balancer:
                return f"{head} - answered by the load balancer itself (a listener rule's fixed response)"
            return f"{head} - answered by {self.server or 'the server'}"
        if self.kind == "alb_error":
            meaning = ALB_ERRORS.get(self.status, "an error from a listener rule")
            return f"{self.status} from the load balancer (Server: {self.server}): {meaning}"
        if self.kind == "timeout" and self.connected:
            return f"timed out after {float(self.timeout)} s: connected, but no response came back in time"
        if self.kind == "timeout" and "TTL expired" in (self.detail or ""):
            return (f"nothing answered, and the sandbox gave up before the client's {float(self.timeout)} s "
                    "timeout (a security group, network ACL or route dropped the packets)")
        if self.kind == "timeout":
            return (f"timed out after {float(self.timeout)} s: nothing answered "
                    "(a security group, network ACL or route dropped the packets)")
        if self.kind == "refused":
            return "connection refused: nothing listens on that port"
        if self.kind == "unresolved":
            return f"could not resolve {httpx.URL(self.url).host}: no load balancer or instance has that name here"
        return f"error: {self.detail}"


def short_task_id(task_id: str) -> str:
    """The first 8 characters, as the ECS console shows task ids in narrow columns."""
    return task_id[:8]


class _SocksHandshakeTimeout(httpcore.NetworkBackend):
    """httpcore 1.0 reads the SOCKS5 proxy's replies with no timeout at all, so a proxy that never
    answers - the sandbox's picture of a dropped SYN - would hang the client. Here a read without a
    timeout (only the SOCKS handshake does that) gets the connect timeout and, when it expires, is
    reported as the connect timeout it stands for."""

    def __init__(self, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _HandshakeStream(stream, self.connect_timeout)


class _HandshakeStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, connect_timeout: float) -> None:
        self._stream = stream
        self._connect_timeout = connect_timeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if timeout is not None:
            return self._stream.read(max_bytes, timeout)
        try:
            data = self._stream.read(max_bytes, self._connect_timeout)
        except httpcore.ReadTimeout as exc:
            raise httpcore.ConnectTimeout(str(exc)) from None
        if not data:  # socksio would call this a "Malformed reply"
            raise httpcore.ConnectError("the proxy closed the connection without a SOCKS reply")
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args, **kwargs):
        return self._stream.start_tls(*args, **kwargs)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


@cache
def _ssl_context():
    """Built once: loading the CA bundle costs a fifth of a second, every new client would pay it."""
    return httpx.create_ssl_context()


def client(proxy: str, *, timeout: float = 3.0, connect_timeout: float | None = None) -> httpx.Client:
    """An httpx client that goes through the SOCKS5 proxy `proxy` (socks5h://...: names resolved there)."""
    connect_timeout = timeout if connect_timeout is None else connect_timeout
    transport = httpx.HTTPTransport(proxy=proxy, verify=_ssl_context())
    url = httpx.URL(proxy)
    # httpx offers no way to pass a network backend, so its SOCKS pool is rebuilt with ours.
    transport._pool = httpcore.SOCKSProxy(
        proxy_url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=b"/"),
        ssl_context=_ssl_context(), network_backend=_SocksHandshakeTimeout(connect_timeout))
    return httpx.Client(transport=transport, verify=_ssl_context(), timeout=httpx.Timeout(timeout, connect=connect_timeout),
                        follow_redirects=False)


def _who_answered(response: httpx.Response) -> dict:
    """task/instance/ports from the container page's JSON; {} for any other page."""
    if "application/json" not in response.headers.get("content-type", ""):
        return {}
    try:
        page = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(page, dict) or "task_id" not in page:
        return {}
    return {key: page.get(key) for key in ("task_id", "instance_id", "host_port", "container_port")}


def _send(http: httpx.Client, url: str, method: str, timeout: float) -> Outcome:
    started = time.monotonic()

    def outcome(kind: Kind, **fields) -> Outcome:
        return Outcome(url=url, kind=kind, timeout=timeout, elapsed=time.monotonic() - started, **fields)

    try:
        # The container page answers JSON to this Accept header, naming who answered.
        response = http.request(method, url, headers={"Accept": "application/json"})
    except httpx.ProxyError as exc:  # the SOCKS5 reply code (RFC 1928) says why
        message = str(exc)
        if "Connection refused" in message:
            return outcome("refused", detail=message)
        if "Host unreachable" in message:
            return outcome("unresolved", detail=message)
        if "TTL expired" in message:  # the sandbox held a dropped connection longer than it will
            return outcome("timeout", detail=message, connected=False)
        return outcome("error", detail=message)
    except httpx.TimeoutException as exc:
        connected = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return outcome("timeout", detail=f"{type(exc).__name__}: {exc}", connected=connected)
    except httpx.ConnectError as exc:
        return outcome("error", detail=f"{exc} - is the sandbox running?")
    except httpx.HTTPError as exc:
        return outcome("error", detail=f"{type(exc).__name__}: {exc}")
    server = response.headers.get("server")
    fields = dict(status=response.status_code, reason=response.reason_phrase, server=server,
                  location=response.headers.get("location"), **_who_answered(response))
    alb_error = (server or "").startswith(ALB_SERVER) and response.status_code >= 400
    return outcome("alb_error" if alb_error else "answered", **fields)


# `proxy=DIRECT`: no sandbox in between - the real internet (AWS mode, opted in).
DIRECT = "direct"


def _proxy_or_fail(proxy: str | None) -> str:
    if proxy is None:
        raise ValueError("pass proxy=<the sandbox's socks_proxy>, e.g. proxy=sandbox.socks_proxy "
                         "(or proxy=DIRECT for a real AWS load balancer)")
    return proxy


def _client_for(proxy: str, timeout: float) -> httpx.Client:
    if proxy == DIRECT:
        return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    return client(proxy, timeout=timeout)


def request(url: str, *, proxy: str | None = None, timeout: float = 3.0, method: str = "GET") -> Outcome:
    """One HTTP request through the sandbox's SOCKS5 proxy; the result in words with `.summary()`."""
    with _client_for(_proxy_or_fail(proxy), timeout) as http:
        return _send(http, url, method, timeout)


def request_many(url: str, n: int, *, proxy: str | None = None, timeout: float = 3.0,
                 method: str = "GET") -> list[Outcome]:
    """`n` requests one after another on one client (kept-alive connections, like a browser)."""
    with _client_for(_proxy_or_fail(proxy), timeout) as http:
        return [_send(http, url, method, timeout) for _ in range(n)]


def answers_per_task(outcomes: list[Outcome]) -> dict[str, int]:
    """How many requests each task answered, by task id (sorted)."""
    counts = Counter(o.task_id for o in outcomes if o.task_id)
    return dict(sorted(counts.items()))


def summarize(outcomes: list[Outcome]) -> str:
    """Answers per task (sorted by task id), then every other kind of result with its count."""
    lines = []
    where = {o.task_id: o for o in outcomes if o.task_id}
    for task_id, count in answers_per_task(outcomes).items():
        o = where[task_id]
        lines.append(f"task {short_task_id(task_id)} on {o.instance_id} host port {o.host_port}: "
                     f"{count} of {len(outcomes)} requests")
    others = Counter(o.summary() for o in outcomes if not o.task_id)
    lines += [f"{text}: {count} of {len(outcomes)} requests" for text, count in sorted(others.items())]
    return "\n".join(lines)
