"""The sandbox's own small HTTP API, beside moto's on the same endpoint, under `/_sandbox/`.

AWS has no API to "kill a container process" - on AWS you would `docker kill` on the host.
The sandbox's containers are processes inside the sandbox, so a notebook in another process
reaches them through here:

    GET  /_sandbox/health                 200 and the ready line (is the sandbox alive?); 503 while it ends
    POST /_sandbox/clients                {"pid": N}: process N uses the sandbox (idle.py)
    GET  /_sandbox/usage                  its clients, open connections and idle seconds (not itself a use)
    GET  /_sandbox/containers             the container processes: task, instance, host port
    POST /_sandbox/containers/<task-id>/kill   SIGKILL that task's container (a real fault)
"""

from __future__ import annotations

import json
from typing import Callable

PREFIX = "/_sandbox/"


def _json(start_response, status: str, body) -> list[bytes]:
    data = json.dumps(body, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _register_client(environ, start_response, sandbox) -> list[bytes]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        pid = json.loads(environ["wsgi.input"].read(length) or b"{}")["pid"]
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _json(start_response, "400 Bad Request", {"error": 'send {"pid": N}, N a positive process id'})
    sandbox.ctx.usage.register(pid)
    return _json(start_response, "200 OK", {"registered": pid})


def with_admin_routes(app: Callable, sandbox) -> Callable:
    """Wrap moto's WSGI app: `/_sandbox/...` is ours, everything else goes to moto."""

    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        containers = sandbox.ctx.components.get("containers")
        parts = path[len(PREFIX):].strip("/").split("/")
        if parts == ["health"] and method == "GET":
            if sandbox.closing:
                return _json(start_response, "503 Service Unavailable", {"error": "the sandbox is ending (idle)"})
            return _json(start_response, "200 OK", sandbox.info())
        if parts == ["clients"] and method == "POST":
            return _register_client(environ, start_response, sandbox)
        if parts == ["usage"] and method == "GET":
            return _json(start_response, "200 OK", sandbox.ctx.usage.describe(sandbox.open_connections()))
        if parts == ["containers"] and method == "GET" and containers is not None:
            return _json(start_response, "200 OK", containers.describe())
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "kill" and method == "POST":
            if containers is None or not containers.kill_task_id(parts[1]):
                return _json(start_response, "404 Not Found", {"error": f"no running container for task {parts[1]}"})
            return _json(start_response, "200 OK", {"killed": parts[1]})
        return _json(start_response, "404 Not Found", {"error": f"unknown sandbox route {method} {path}"})

    return serve
