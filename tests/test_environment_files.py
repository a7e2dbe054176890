"""environment.yml (conda/Binder) and pyproject.toml (pip) must list the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"python-graphviz": "graphviz"}
# Packages that only one side needs: the interpreter, pip itself, the `dot` binary (pip cannot
# install it; the Makefile gets it from apt), and httpx's SOCKS extra, which conda lists by name.
CONDA_ONLY = {"python", "pip", "graphviz-binary", "socksio"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r) for r in requirements}


def conda_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dependency in env["dependencies"]:
        if isinstance(dependency, dict):  # the pip: section
            names |= {_name(r) for r in dependency["pip"] if not r.startswith("-e")}
            continue
        name = _name(dependency)
        if name == "graphviz":  # conda-forge's graphviz is the binary
            name = "graphviz-binary"
        names.add(CONDA_TO_PYPI.get(name, name))
    return names - CONDA_ONLY


def test_environment_yml_and_pyproject_list_the_same_packages():
    conda, pip = conda_packages(), pyproject_packages()
    assert conda == pip, (f"only in environment.yml: {sorted(conda - pip)}; only in pyproject.toml: {sorted(pip - conda)}")


def test_environment_yml_installs_the_dot_binary_and_this_package():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- graphviz\b", text, re.M), "conda-forge's graphviz (the dot binary) is missing"
    assert "- -e ." in text
