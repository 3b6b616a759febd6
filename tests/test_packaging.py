"""The package installs: a wheel carries every subpackage (found, not listed) and the data the problem side
reads; installed into a fresh venv without extras it brings no torch, Ray or Jupyter and its solver side
works from another folder, with no checkout in reach, while a command that needs an extra says which."""
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "adaptres"


def subpackages() -> set[str]:
    return {".".join(p.parent.relative_to(REPO).parts) for p in PKG.rglob("__init__.py")}


def test_packages_are_found_not_listed():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["packages"]["find"]["include"] == ["adaptres*"]
    for link in ("costs", "study"):  # the data the problem side reads, linked into the package
        assert (PKG / "_data" / link).resolve() == (REPO / "data" / link).resolve()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the checkout gets no build folders)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PKG, src / "adaptres", ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    for folder in ("costs", "study"):
        shutil.copytree(REPO / "data" / folder, src / "data" / folder)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                        str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return next(out.glob("adaptres-*.whl"))


@pytest.mark.slow
def test_the_wheel_holds_every_subpackage_and_the_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in subpackages():
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, pkg
    for folder in ("costs", "study"):
        for f in (REPO / "data" / folder).iterdir():
            if f.suffix in (".json", ".csv"):
                assert f"adaptres/_data/{folder}/{f.name}" in names, f.name


@pytest.mark.slow
def test_installed_command_works_from_another_folder(wheel, tmp_path):
    """A fresh venv that reuses the project's pinned dependencies (their folder on its path, not the
    checkout's), the wheel installed into it without dependencies, run from another folder."""
    import sysconfig
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # a path line, not a site folder: the project venv's own .pth files (the checkout's) are not read
    (Path(site) / "pinned-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"}

    def run(*args):
        return subprocess.run([str(py), "-m", "adaptres", *args], capture_output=True, text=True, cwd=work, env=env)
    where = subprocess.run([str(py), "-c", "import adaptres.paths as p; print(p.PACKAGE, p.INSTALLED)"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert where.stdout.startswith(site) and where.stdout.split()[-1] == "True", where.stdout + where.stderr
    assert run("scenario", "--profile", "cpu", "--devices", "4", "--requests", "2", "--out", "s.json").returncode == 0
    r = run("solve", "s.json", "--method", "colgen_round", "--out", "p.json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] in ("optimal", "feasible")
    r = run("evaluate", "s.json", "p.json")
    assert r.returncode == 0 and json.loads(r.stdout)["requests"] == 2, r.stderr
    assert not (REPO / "s.json").exists() and (work / "p.json").exists()


@pytest.mark.slow
def test_a_fresh_install_without_extras_is_the_solver_side(wheel, tmp_path):
    """``pip install adaptres`` (no extra) into a fresh venv: no torch, Ray or Jupyter; scenario, solve, evaluate
    and a simulated load test work from another folder; ``train`` says in one line which extra it needs."""
    venv = tmp_path / "venv"
    py = venv / "bin" / "python"
    uv = Path(sys.executable).with_name("uv")  # the set-up's installer (from its cache: seconds, pip: a minute)
    if uv.exists():
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install, listing = [str(uv), "pip", "install", "-q", "--python", str(py)], [str(uv), "pip", "list", "--python", str(py)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install, listing = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"], [str(py), "-m", "pip", "list"]
    r = subprocess.run([*install, str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    have = subprocess.run([*listing, "--format=freeze"], capture_output=True, text=True).stdout.lower()
    assert "\nnumpy==" in f"\n{have}" and "\nadaptres==" in f"\n{have}", have  # the listing is the venv's
    for absent in ("torch", "ray", "jupyterlab", "papermill", "ipykernel"):
        assert f"\n{absent}==" not in f"\n{have}", absent
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"}

    def run(*args):
        return subprocess.run([str(py), "-m", "adaptres", *args], capture_output=True, text=True, cwd=work, env=env)
    assert run("scenario", "--devices", "4", "--requests", "2", "--out", "s.json").returncode == 0
    r = run("solve", "s.json", "--method", "colgen_round", "--out", "p.json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] in ("optimal", "feasible"), r.stderr
    assert json.loads(run("evaluate", "s.json", "p.json").stdout)["requests"] == 2
    r = run("load", "--policy", "adaptive", "--profile", "fast", "--devices", "4", "--load", "1", "--duration", "5",
            "--out", "load.csv")
    assert r.returncode == 0, r.stderr
    r = run("train", "--profile", "fast", "--out", "t")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "[nn]" in r.stderr, r.stderr
