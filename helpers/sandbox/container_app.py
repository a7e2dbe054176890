"""The "container" of one ECS task: a tiny HTTP server standing for Tomcat on port 8081.

    python -m helpers.sandbox.container_app --task-id ID --instance-id i-... \
        --host-port 32768 --container-port 8081 [--container-name tomcat]

On AWS the task's container listens on its container port and Docker forwards
`instance:hostPort` to it. Here one process plays both: it listens on a free loopback port
and says which task, instance, host port and container port answered, so every request in
the course shows *where* it landed.

- It prints one line, `LISTENING <port>`, on stdout once it serves (ContainerRuntime reads it).
- `GET /status/<code>` answers that code (to make a health check fail on purpose); `/reset`
  resets the connection without answering (what a crashing app does: the ALB answers 502); every
  other path answers 200. `Accept: application/json` gets JSON, anything else plain text.
- It exits when its stdin closes: the sandbox holds the other end, so if the sandbox dies,
  even by SIGKILL, no container process is left behind.

Standard library only, and nothing heavy: a task must start in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS_PATH = re.compile(r"^/status/(\d{3})/?$")
RESET_PATH = "/reset"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.sandbox.container_app")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--host-port", type=int, required=True)
    parser.add_argument("--container-port", type=int, required=True)
    parser.add_argument("--container-name", default="app")
    return parser.parse_args(argv)


def make_handler(identity: dict) -> type[BaseHTTPRequestHandler]:
    class ContainerHandler(BaseHTTPRequestHandler):
        server_version = "sandbox-container/1.0"
        sys_version = ""
        protocol_version = "HTTP/1.1"  # keep-alive, as a real app server would
        # Headers and body go out as separate writes; with Nagle's algorithm on, a keep-alive
        # client's delayed ACK stalls every response by ~40 ms (Tomcat sets TCP_NODELAY too).
        disable_nagle_algorithm = True

        def _answer(self, with_body: bool = True) -> None:
            # Read and drop a request body so the connection stays usable.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            if path.rstrip("/") == RESET_PATH:
                self._reset()
                return
            match = STATUS_PATH.match(path)
            status = int(match.group(1)) if match else 200
            if not 100 <= status <= 599:
                status = 400
            info = dict(identity, path=path, status=status)
            if "application/json" in self.headers.get("Accept", ""):
                body, content_type = json.dumps(info).encode(), "application/json"
            else:
                body = (
                    f"Hello from task {identity['task_id']}\n"
                    f"instance {identity['instance_id']}, host port {identity['host_port']}"
                    f" -> container {identity['container_name']}:{identity['container_port']}\n"
                    f"{status} for {path}\n"
                ).encode()
                content_type = "text/plain; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout: close() sends a TCP RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

        def log_message(self, format: str, *args) -> None:
            pass  # a quiet container: the sandbox's pipes stay empty

    return ContainerHandler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up mid-request is normal traffic, not an error to print


def exit_when_stdin_closes() -> None:
    """The parent holds our stdin open; EOF means the sandbox is gone, so we go too."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    identity = {
        "task_id": args.task_id,
        "instance_id": args.instance_id,
        "host_port": args.host_port,
        "container_port": args.container_port,
        "container_name": args.container_name,
    }
    server = QuietServer(("127.0.0.1", 0), make_handler(identity))
    threading.Thread(target=exit_when_stdin_closes, name="stdin-watch", daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
