import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def test_conda_and_pip_install_the_same_set():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pkgs = [d for d in env["dependencies"] if isinstance(d, str)]
    assert sorted(p for p in pip_block if p != "-e .") == sorted(deps)
    assert "python=3.11" in conda_pkgs
    # every dependency is pinned, so both paths give the same versions
    assert all("==" in d for d in deps)


def test_ci_calls_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make study" in readme
