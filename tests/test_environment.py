"""The dependencies fit their uses: every third-party module the code imports is declared, in the extra of
the layer that imports it; the package itself (the problem and solver side) needs no torch, Ray or
Jupyter; conda's environment installs what the Makefile installs; CI runs the README's test command."""
import ast
import os
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
    return {m for m in out if m not in sys.stdlib_module_names and m not in ("adaptres", "cli_helpers", "notebook_helpers",
                                                                             "optim_helpers", "conftest", "__future__")}


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
    """``make test`` runs on both cores with ``--dist loadgroup``: the tests of one ``xdist_group`` must reach one
    worker — a notebook's cells (one kernel; the group given by the project's conftest hook) and the test bed's
    tests (a module mark) — and each worker computes on its share of the cores, its notebook kernels too (two
    workers with two torch threads each on two cores: oversubscribed, both ran ~4× slower). Run here as ``make
    test`` runs, with the project's own conftest: pytest-xdist reads the groups in a hook of its own, and once ran
    it before the project's, so the cells went to both workers. Notebook 09 runs on the test bed the tests share:
    its cells go after theirs but before the test that takes the bed down. The tests on the session's Ray are one
    group too (Ray and the runtime's actors started once)."""
    import shutil
    import subprocess

    import nbformat
    (tmp_path / "tests").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "test_bed.py").write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.xdist_group('testbed')\n"
        + "".join(f"def test_{i}():\n    pass\n" for i in range(3))
        + "@pytest.mark.takes_testbed_down\ndef test_3():\n    pass\n")
    (tmp_path / "tests" / "test_free.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(4)))
    (tmp_path / "tests" / "test_on_ray.py").write_text(  # the session's Ray (here a stand-in): one group
        "import pytest\n@pytest.fixture(scope='session')\ndef ray_session():\n    return None\n"
        + "".join(f"def test_{i}(ray_session):\n    pass\n" for i in range(3)))
    share = max(1, (os.cpu_count() or 1) // 2)  # each worker's threads, and its notebook kernels' (they inherit them)
    (tmp_path / "tests" / "test_threads.py").write_text(
        f"import os\ndef test_threads():\n    assert os.environ['OMP_NUM_THREADS'] == '{share}'\n")
    cells = [nbformat.v4.new_code_cell("x = 1")] + [nbformat.v4.new_code_cell(f"x += {i}") for i in range(4)]
    cells.append(nbformat.v4.new_code_cell(f"import os\nassert os.environ['OMP_NUM_THREADS'] == '{share}'"))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "notebooks" / "nb.ipynb")
    live = [nbformat.v4.new_code_cell(f"y = {i}") for i in range(2)]  # notebook 09: on the shared test bed
    nbformat.write(nbformat.v4.new_notebook(cells=live), tmp_path / "notebooks" / "09_live.ipynb")
    p = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                        "tests", "notebooks", "--nbval-lax", "--nbval-current-env"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert p.returncode == 0, p.stdout[-2000:]
    ran = [line.split() for line in p.stdout.splitlines() if "PASSED" in line]
    for suffix, n in (("@nb", 6), ("@testbed", 6), ("@ray", 3)):
        group = [words for words in ran if words[-1].endswith(suffix)]
        assert len(group) == n, ran
        assert len({words[0] for words in group}) == 1, group  # one worker
    bed = [line.split("PASSED ")[-1].split("::")[-1] for line in map(str.strip, p.stdout.splitlines())  # as they ran
           if "PASSED" in line and line.endswith("@testbed")]
    assert bed == ["test_0@testbed", "test_1@testbed", "test_2@testbed", "Cell 0@testbed", "Cell 1@testbed",
                   "test_3@testbed"], bed  # notebook 09 on the shared bed, before the test that takes it down


def test_notebook_09_runs_on_the_shared_test_bed():
    """The fast profile's notebook 09 has as many devices as the bed the tests share, so it finds that bed up and uses
    it (a bed of another size it would take down and bring up anew); it is in the test bed's group."""
    from conftest import ON_THE_SHARED_BED, SHARED_GROUPS, TESTBED_DEVICES

    from adaptres.experiments import profiles
    assert profiles.get("fast").live.n_devices == TESTBED_DEVICES
    assert all(SHARED_GROUPS[nb] == "testbed" for nb in ON_THE_SHARED_BED)


def test_the_shared_groups_name_notebooks_that_exist():
    """The notebooks that share a run folder or the test bed (one group each in the parallel run) are named
    by files that exist; 02 is in the group of the 01 whose model it measures."""
    from conftest import SHARED_GROUPS
    names = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    assert set(SHARED_GROUPS) <= names
    assert SHARED_GROUPS["01_train"] == SHARED_GROUPS["02_ablation"]
