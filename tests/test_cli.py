"""The command line: input validation and the sandbox's ready line / clean shutdown."""

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from helpers.cli import build_parser


@pytest.mark.parametrize("bad, message", [
    (["sandbox", "--host-port-range", "70000-70010"], "1-65535"),
    (["sandbox", "--host-port-range", "40000-30000"], "LOW <= HIGH"),
    (["sandbox", "--host-port-range", "abc"], "LOW-HIGH"),
    (["sandbox", "--time-scale", "0"], "(0, 1]"),
])
def test_bad_options_name_the_constraint(bad, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(bad)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def _start(*args):
    return subprocess.Popen([sys.executable, "-m", "helpers", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sandbox_prints_one_ready_line_and_stops_on_sigterm():
    process = _start()
    try:
        info = json.loads(process.stdout.readline())
        assert info["endpoint_url"].startswith("http://127.0.0.1:")
        assert info["socks_proxy"].startswith("socks5h://127.0.0.1:")
        assert info["region"] == "us-east-1"
        with urllib.request.urlopen(info["endpoint_url"] + "/_sandbox/health", timeout=5) as response:
            assert json.loads(response.read())["endpoint_url"] == info["endpoint_url"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    assert process.stdout.read() == ""  # nothing after the ready line


def test_sandbox_env_prints_exports_for_the_aws_cli():
    process = _start("--env")
    try:
        lines = [process.stdout.readline().strip() for _ in range(6)]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
    assert exports["LAB_SOCKS_PROXY"].startswith("socks5h://")


def test_two_sandboxes_use_different_ports():
    first, second = _start(), _start()
    try:
        a, b = (json.loads(p.stdout.readline()) for p in (first, second))
        assert a["endpoint_url"] != b["endpoint_url"] and a["socks_proxy"] != b["socks_proxy"]
    finally:
        for p in (first, second):
            p.send_signal(signal.SIGTERM)
        for p in (first, second):
            assert p.wait(timeout=15) == 0
