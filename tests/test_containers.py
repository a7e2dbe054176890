"""The container processes: a real HTTP server per task, started, answering, stopped, killed."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import pytest

from helpers.sandbox.containers import ContainerRuntime, PortAlreadyAllocated

TASK = "arn:aws:ecs:us-east-1:123456789012:task/lab-cluster/abc123"


def get(endpoint, path="/", accept=None):
    connection = http.client.HTTPConnection(*endpoint, timeout=5)
    connection.request("GET", path, headers={"Accept": accept} if accept else {})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, response.getheader("Content-Type"), body


def pid_gone(pid: int) -> bool:
    """True once no process has this pid - not even a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def runtime():
    runtime = ContainerRuntime(ctx=None)
    yield runtime
    runtime.stop_all()


def start(runtime, task_arn=TASK, instance="i-1", host_port=32768):
    return runtime.start(task_arn, task_id=task_arn.rsplit("/", 1)[-1], instance_id=instance,
                         host_port=host_port, container_port=8081, container_name="tomcat")


def test_container_answers_with_who_it_is(runtime):
    endpoint = start(runtime)  # returns once the server listens
    assert runtime.endpoint("i-1", 32768) == endpoint
    status, content_type, body = get(endpoint)
    assert status == 200 and content_type.startswith("text/plain")
    assert "abc123" in body and "i-1" in body and "32768" in body and "8081" in body


def test_json_variant_and_any_path(runtime):
    endpoint = start(runtime)
    status, content_type, body = get(endpoint, "/some/page?x=1", accept="application/json")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"task_id": "abc123", "instance_id": "i-1", "host_port": 32768, "container_port": 8081,
                                "container_name": "tomcat", "path": "/some/page", "status": 200}


def test_status_path_answers_that_code(runtime):
    endpoint = start(runtime)
    assert get(endpoint, "/status/503")[0] == 503
    assert get(endpoint, "/status/404")[0] == 404


def test_reset_path_resets_the_connection_without_an_answer(runtime):
    endpoint = start(runtime)
    with pytest.raises(ConnectionResetError):
        get(endpoint, "/reset")
    assert get(endpoint, "/")[0] == 200  # the container itself keeps serving


def test_nothing_listens_on_other_instance_ports(runtime):
    start(runtime)
    assert runtime.endpoint("i-1", 32769) is None
    assert runtime.endpoint("i-2", 32768) is None


def test_one_host_port_per_instance(runtime):
    start(runtime)
    with pytest.raises(PortAlreadyAllocated):
        start(runtime, task_arn=TASK + "-2")
    start(runtime, task_arn=TASK + "-3", instance="i-2")  # the same port on another instance is fine


def test_stop_terminates_and_reaps(runtime):
    start(runtime)
    pid = runtime.describe()[0]["pid"]
    assert runtime.stop(TASK) == 128 + 15  # SIGTERM, as `docker stop` sends
    assert pid_gone(pid)
    assert runtime.endpoint("i-1", 32768) is None and runtime.describe() == []
    assert runtime.stop(TASK) is None


def test_kill_is_a_real_fault_the_runtime_remembers(runtime):
    endpoint = start(runtime)
    pid = runtime.describe()[0]["pid"]
    assert runtime.kill_task_id("abc123")
    assert not runtime.is_alive(TASK)
    assert pid_gone(pid)  # reaped: no zombie
    assert runtime.exit_code(TASK) == 137  # 128 + SIGKILL, as Docker reports it
    assert runtime.endpoint("i-1", 32768) is None
    with pytest.raises(OSError):
        get(endpoint)
    assert runtime.describe()[0]["alive"] is False
    assert runtime.stop(TASK) == 137


def test_stop_all_leaves_no_process(runtime):
    for index in range(3):
        start(runtime, task_arn=f"{TASK}-{index}", host_port=32768 + index)
    pids = [c["pid"] for c in runtime.describe()]
    runtime.stop_all()
    assert all(pid_gone(pid) for pid in pids)


def test_container_exits_when_the_sandbox_goes_away():
    # The container process reads its stdin; when its parent dies the pipe closes and it exits.
    process = subprocess.Popen([sys.executable, "-m", "helpers.sandbox.container_app", "--task-id", "t",
                                "--instance-id", "i-1", "--host-port", "1", "--container-port", "2"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               cwd=os.path.dirname(os.path.dirname(__file__)))
    assert process.stdout.readline().startswith(b"LISTENING ")
    process.stdin.close()
    assert process.wait(timeout=5) == 0
    process.stdout.close()
