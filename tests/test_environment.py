"""The dependencies fit their uses: every third-party module the code imports is declared, in the extra of
the layer that imports it; the package itself (the problem and solver side) needs no torch, Ray or
Jupyter; conda's environment installs what the Makefile installs; CI runs the README's test command."""
import ast
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# a module's import name -> its distribution's name on PyPI
DIST = {"yaml": "pyyaml", "sklearn": "scikit-learn", "IPython": "ipython"}
# what comes with a declared distribution (a dependency of one)
BUNDLED = {"IPython": "ipykernel", "pyomo": "pyomo", "jupyter_client": "ipykernel"}
# the extra each layer's imports belong to (the base: ``dependencies``)
LAYERS = {"problem": "base", "solvers": "base", "serving": "base", "io.py": "base", "paths.py": "base",
          "progress.py": "base", "cli": "base", "experiments": "base", "nn": "nn", "runtime": "runtime",
          "cluster.py": "runtime", "testbed": "runtime", "report": "study"}


def _name(req: str) -> str:
    return req.split("==")[0].split("[")[0].strip().lower()


def declared(extra: str) -> set[str]:
    """The distributions an install with ``extra`` gets (its own, those of the extras it names, the base)."""
    if extra == "base":
        return {_name(d) for d in PROJECT["dependencies"]}
    out = set(declared("base"))
    for req in PROJECT["optional-dependencies"][extra]:
        if req.startswith("adaptres["):
            for e in req[len("adaptres["):-1].split(","):
                out |= declared(e)
        else:
            out.add(_name(req))
    return out


def third_party(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        out |= {n.split(".")[0] for n in names}
    return {m for m in out if m not in sys.stdlib_module_names and m not in ("adaptres", "cli_helpers", "optim_helpers",
                                                                             "conftest", "__future__")}


def _layer(path: Path) -> str:
    rel = path.relative_to(REPO / "adaptres")
    return LAYERS.get(rel.parts[0], "base")


@pytest.mark.parametrize("path", sorted((REPO / "adaptres").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_import_is_declared_in_its_layers_extra(path):
    extra = _layer(path)
    have = declared(extra)
    missing = [m for m in third_party(path) if DIST.get(m, m).lower() not in have and BUNDLED.get(m) not in have]
    assert not missing, f"{path.name} ({extra}) imports {missing}, not declared there"


def test_every_test_import_is_declared_for_development():
    have = declared("all")
    mods = set().union(*(third_party(p) for p in (REPO / "tests").glob("*.py")))
    missing = [m for m in mods if DIST.get(m, m).lower() not in have and BUNDLED.get(m) not in have]
    assert not missing, missing


def test_the_package_itself_needs_no_torch_ray_or_jupyter():
    base = declared("base")
    assert not base & {"torch", "torchvision", "timm", "ray", "jupyterlab", "papermill", "ipykernel", "matplotlib"}
    assert {"torch", "ray", "papermill"} <= declared("all")


def test_conda_installs_what_the_makefile_installs():
    """environment.yml's pip block = every pinned dependency of the package and its extras, then the checkout."""
    flat = PROJECT["dependencies"] + [d for e in PROJECT["optional-dependencies"].values() for d in e
                                      if not d.startswith("adaptres")]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(p for p in pip_block if not p.startswith("-e")) == sorted(flat)
    assert "-e .[all]" in pip_block and "python=3.11" in env["dependencies"]
    assert all("==" in d for d in flat)  # pinned: both paths give the same versions
    assert "optional-dependencies" in (REPO / "Makefile").read_text()


def test_ci_calls_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make study" in readme


@pytest.mark.slow
def test_tests_that_share_the_test_bed_run_in_one_worker(tmp_path):
    """``make test`` runs on both cores with ``--dist loadgroup``: the tests of one ``xdist_group`` (the test bed's,
    a notebook's cells) must reach one worker. pytest 9.2 with pytest-xdist 3.8 silently dropped the groups (the
    test bed's tests then took it down under each other): the pinned pair must keep them."""
    import subprocess
    for name in ("a", "b"):
        (tmp_path / f"test_{name}.py").write_text(
            "import pytest\n"
            "pytestmark = pytest.mark.xdist_group('bed')\n"
            + "".join(f"def test_{i}():\n    pass\n" for i in range(4)))
    p = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                        "-p", "no:nbval", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:]
    ran = [line for line in p.stdout.splitlines() if "PASSED" in line]
    assert len(ran) == 8 and all(line.rstrip().endswith("@bed") for line in ran), ran
    assert len({line.split()[0] for line in ran}) == 1, ran  # one worker
