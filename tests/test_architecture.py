"""The package's layers hold: the problem and solver side never import torch, modules import
downwards only, there is no import cycle, no function is over 60 lines and no module over 400."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "adaptres"
TORCH = ("torch", "torchvision", "timm")

# what each layer may import from the package (its own layer included)
ALLOWED = {
    "paths": {"paths"},
    "progress": {"progress"},
    "io": {"paths", "io"},
    "processes": {"processes"},  # this machine's processes by PID: which run, which descend from this one, stopping them
    "cluster": {"processes", "cluster"},  # starts Ray: the engine of the runtime and of the sweeps
    "testbed": {"paths", "io", "processes", "testbed"},  # the network test bed: namespaces, shaped links, Ray nodes
    "problem": {"paths", "progress", "io", "problem"},
    "solvers": {"paths", "progress", "io", "problem", "solvers"},
    "nn": {"paths", "progress", "io", "problem", "nn"},
    # the device actors and the engine that runs requests on them (Ray)
    "runtime": {"paths", "progress", "io", "cluster", "testbed", "problem", "solvers", "nn", "runtime"},
    # the one closed loop: arrivals, policies, controllers, executors (modelled, simulated, on the actors)
    "serving": {"paths", "progress", "io", "processes", "cluster", "problem", "solvers", "runtime", "serving"},
    "experiments": {"paths", "progress", "io", "cluster", "testbed", "problem", "solvers", "nn", "runtime", "serving",
                    "experiments"},
    "report": {"paths", "progress", "io", "cluster", "testbed", "problem", "solvers", "nn", "runtime", "serving",
               "experiments", "report"},
    "cli": {"paths", "progress", "io", "processes", "cluster", "testbed", "problem", "solvers", "nn", "runtime", "serving",
            "experiments", "report", "cli"},
}
TORCH_FREE = ("problem", "solvers", "paths", "io", "processes", "cluster", "testbed", "cli", "experiments", "nn/recipe.py",
              "serving",
              "runtime/routes.py", "runtime/engine.py", "runtime/jobs.py", "runtime/probing.py",
              "runtime/recovery.py", "runtime/detector.py", "runtime/faults.py", "runtime/options.py",
              "runtime/records.py")


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(["adaptres", *parts])


MODULES = {name for _, name in modules()}


def imports(path: Path, name: str) -> list[str]:
    """Every module ``path`` imports (at any depth of the file), resolved to absolute names."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            # ``from . import x`` names a submodule (then only it is imported here) or an attribute of ``mod``
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
            out += subs if len(subs) == len(node.names) else [mod, *subs]
    return out


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def known(name: str) -> str | None:
    """The package module ``name`` refers to (a submodule, or the module holding that attribute)."""
    names = {n for _, n in modules()}
    while name and name not in names:
        name = name.rpartition(".")[0]
    return name or None


def test_layers_import_downwards_only():
    bad = []
    for path, name in modules():
        own = layer(name)
        if own in (None, "__main__"):
            continue
        for imp in imports(path, name):
            target = known(imp) if imp.startswith("adaptres") else None
            if target and layer(target) and layer(target) not in ALLOWED[own]:
                bad.append(f"{name} imports {target}")
    assert not bad, bad


@pytest.mark.parametrize("where", TORCH_FREE)
def test_problem_and_solver_side_never_name_torch(where):
    paths = [PKG / where] if where.endswith(".py") else sorted((PKG / where).rglob("*.py")) if (PKG / where).is_dir() \
        else [PKG / f"{where}.py"]
    for path in paths:
        name = dict(modules())[path]
        named = [i for i in imports(path, name) if i.split(".")[0] in TORCH]
        assert not named, (path, named)


def test_no_import_cycle():
    graph = {name: {known(i) for i in imports(path, name) if i.startswith("adaptres") and known(i) != name} - {None}
             for path, name in modules()}
    # a package's __init__ is imported by its submodules; the __init__ importing them back is a cycle
    state, cycle = {}, []

    def visit(n, stack):
        state[n] = "open"
        for m in sorted(graph.get(n, ())):
            if state.get(m) == "open":
                cycle.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m, stack + [m])
        state[n] = "done"
    for n in graph:
        if n not in state:
            visit(n, [n])
    assert not cycle, cycle[0]


def test_no_function_over_60_lines():
    long = []
    for path, name in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, long


def test_no_module_over_400_lines():
    big = [f"{name}: {n} lines" for path, name in modules() if (n := len(path.read_text().splitlines())) > 400]
    assert not big, big


BLOCK_TORCH = (  # an import finder that refuses torch, as on a machine without it
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'torchvision', 'timm'):\n"
    "            raise ImportError(f'{name} is not installed (blocked by the test)')\n"
    "sys.meta_path.insert(0, NoTorch())\n")


def python(code: str) -> None:
    """Run ``code`` in a fresh interpreter; it must succeed."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
def test_solver_side_runs_with_torch_absent(tmp_path):
    """With torch, torchvision and timm unimportable, a scenario is generated, solved by each method
    and evaluated through the command line."""
    code = BLOCK_TORCH + (
        "from adaptres.cli import main\n"
        f"d = {str(tmp_path)!r}\n"
        "assert main(['scenario', '--profile', 'fast', '--devices', '3', '--requests', '2', '--out', d + '/s.json']) == 0\n"
        "for m in ('exact', 'relaxed', 'ga'):\n"
        "    assert main(['solve', d + '/s.json', '--method', m, '--time-limit', '5', '--out', d + '/' + m + '.json']) == 0\n"
        "    assert main(['evaluate', d + '/s.json', d + '/' + m + '.json']) == 0\n"
        "assert 'torch' not in sys.modules\n")
    python(code)
    assert json.loads((tmp_path / "exact.json").read_text())["status"] == "optimal"


def test_solver_modules_load_on_first_use():
    code = ("import sys; from adaptres import solvers; from adaptres.cli import main\n"
            "assert 'adaptres.solvers.ga' not in sys.modules and 'pymoo' not in sys.modules\n"
            "solvers.get('relaxed')\n"
            "assert 'adaptres.solvers.relaxed' in sys.modules and 'adaptres.solvers.ga' not in sys.modules\n"
            "assert 'pandas' not in sys.modules and 'torch' not in sys.modules\n")
    python(code)


def test_private_ray_apis_only_in_the_adapter():
    """Ray's private modules are reached from ``cluster.py`` alone (the adapter)."""
    bad = [name for path, name in modules() if name != "adaptres.cluster"
           and any(i.startswith("ray._private") or i.startswith("ray._raylet") for i in imports(path, name))]
    assert not bad, bad


def test_rays_private_apis_are_where_the_adapter_expects():
    """A Ray that moved them fails here, with what moved, not in the middle of a run."""
    from adaptres import cluster
    assert cluster.private_apis() == []


@pytest.mark.slow  # subprocesses
def test_a_local_ray_that_times_out_starting_is_started_again_with_the_first_attempt_removed(tmp_path, monkeypatch):
    """Ray's node must register within 30 s; on a loaded host it sometimes does not (a bare Exception "timed out
    during startup"): the processes and session folder of that attempt are removed and Ray started again; any
    other error, or the last attempt's, is raised as it is."""
    import subprocess
    import sys

    from adaptres import cluster
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    calls, started = [], []

    class FakeRay:
        def __init__(self, errors):
            self.errors = list(errors)

        def init(self, **kw):
            calls.append(kw)
            (tmp_path / "ray" / f"session_2026_{len(started)}").mkdir(parents=True, exist_ok=True)
            started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
            if self.errors:
                raise self.errors.pop(0)

        def shutdown(self):
            pass

    timeout = Exception("The current node timed out during startup. This could happen because ...")
    cluster._init_local(FakeRay([timeout]), num_cpus=1)
    assert len(calls) == 2 and calls[0] == {"num_cpus": 1}
    assert started[0].wait(timeout=10) is not None and started[1].poll() is None  # the first attempt's, stopped
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["session_2026_1"]
    started[1].kill()
    calls.clear()
    with pytest.raises(ValueError, match="other"):
        cluster._init_local(FakeRay([ValueError("other")]), num_cpus=1)
    assert len(calls) == 1
    with pytest.raises(Exception, match="timed out during startup"):
        cluster._init_local(FakeRay([timeout] * cluster.START_TRIES), num_cpus=1)
    assert len(calls) == 1 + cluster.START_TRIES
    for p in started:
        p.kill()
        p.wait()
