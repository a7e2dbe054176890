"""`python -m helpers check`: passes on a good machine, and each failure names its fix."""

import argparse
import json
import subprocess
import sys

import pytest

from helpers import check


@pytest.mark.slow
def test_every_check_passes_here_and_the_exit_code_says_so():
    done = subprocess.run([sys.executable, "-m", "helpers", "check", "--json"], capture_output=True, text=True,
                          timeout=120)
    report = json.loads(done.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert done.returncode == 0 and report["ok"], failed
    names = [c["name"] for c in report["checks"]]
    assert {"python", "boto3", "moto", "graphviz-dot", "jupyter-kernel", "widgets-extension",
            "sandbox", "loopback-only"} <= set(names)
    sandbox = next(c for c in report["checks"] if c["name"] == "sandbox")
    assert "VPC created" in sandbox["detail"] and " s" in sandbox["detail"]


def test_the_notebook_can_skip_the_sandbox_and_print_a_table():
    results = check.run_checks(include_sandbox=False)
    assert all(isinstance(r, check.CheckResult) for r in results)
    assert "sandbox" not in [r.name for r in results]
    table = check.format_results(results)
    assert table.splitlines()[0].startswith("ok    python")
    assert table.endswith("all checks passed")


def test_no_dot_on_path_fails_with_the_install_commands(tmp_path):
    result = check.check_dot(path=str(tmp_path))
    assert not result.ok and "no `dot`" in result.detail
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert hint in result.fix


def test_a_dot_that_cannot_render_fails(tmp_path):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Format: \"svg\" not recognized' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = check.check_dot(path=str(tmp_path))
    assert not result.ok and "not recognized" in result.detail and "graphviz" in result.fix


def test_a_too_high_requirement_fails_naming_the_package():
    results = check.check_dependencies(["traitlets>=5", "boto3>=999"])
    assert [r.ok for r in results] == [True, False]
    assert results[1].name == "boto3" and "need boto3>=999" in results[1].detail
    assert "pip install 'boto3>=999'" in results[1].fix


def test_a_missing_package_fails():
    [result] = check.check_dependencies(["no-such-package-for-this-course>=1"])
    assert not result.ok and "not installed" in result.detail and "make setup" in result.fix


def test_extras_are_checked_and_folded_into_one_line():
    [result] = check.check_dependencies(["httpx[socks]>=0.27"])
    assert result.ok and result.detail.endswith("(+1 for [socks])")


def test_without_packaging_a_simple_comparison_still_works(monkeypatch):
    monkeypatch.setitem(sys.modules, "packaging.requirements", None)  # makes the import fail
    results = check.check_dependencies(["boto3>=1.0", "moto[server]==0.1", 'pytest>=8; extra == "test"'])
    assert [(r.name, r.ok) for r in results] == [("boto3", True), ("moto", False)]
    assert check._satisfies_fallback("5.2.5", ">=5.2,!=5.2.4,<6")
    assert not check._satisfies_fallback("5.2.5", "!=5.2.5")
    assert check._satisfies_fallback("1.0.0", "==1.*") and not check._satisfies_fallback("2.0", "==1.*")


def test_an_old_python_fails():
    result = check.check_python((3, 9, 18))
    assert not result.ok and "need >= 3.10" in result.detail


def test_a_kernel_must_run_this_python():
    other = {"py2": {"spec": {"argv": ["/usr/bin/python2", "-m", "ipykernel_launcher"]}}}
    result = check.check_kernel(other)
    assert not result.ok and "ipykernel install --sys-prefix" in result.fix
    ours = {**other, "lab": {"spec": {"argv": [sys.executable, "-m", "ipykernel_launcher"]}},
            "plain": {"spec": {"argv": ["python3", "-m", "ipykernel_launcher"]}}}
    assert check.check_kernel(ours) == check.CheckResult("jupyter-kernel", True, "lab, plain")


def test_a_non_loopback_endpoint_fails():
    result = check.check_loopback({"endpoint_url": "http://0.0.0.0:4566", "socks_proxy": "socks5h://127.0.0.1:1080"})
    assert not result.ok and "0.0.0.0" in result.detail


def test_one_failure_means_exit_1_and_json_says_why(monkeypatch, capsys):
    failing = [check.CheckResult("python", True, "3.11"), check.CheckResult("graphviz-dot", False, "no `dot`", "apt")]
    monkeypatch.setattr(check, "run_checks", lambda: failing)
    assert check.run_check(argparse.Namespace(json=True)) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert check.run_check(argparse.Namespace(json=False)) == 1
    text = capsys.readouterr().out
    assert "FAIL  graphviz-dot" in text and "fix: apt" in text and "1 check(s) failed" in text
