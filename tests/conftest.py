import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

# Under pytest-xdist the cores are shared out among the workers: each worker, and what it starts (notebook kernels,
# commands, Ray's processes), computes on its share of threads. With torch's default (a thread per core in every
# process) two workers on two cores oversubscribe them: two ResNet-50 evaluations side by side ran at 107 img/s in
# all with two threads each, 421 img/s with one (32 px, AVX2). Read by torch when it is first imported.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """An idx file as Fashion-MNIST ships it (big-endian header, uint8 data), gzipped."""
    magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_fashion_mnist(root: Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """Small Fashion-MNIST files in the real format: learnable (class = brightness band)."""
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = (labels[:, None, None] * 25 + rng.integers(0, 20, (n, 28, 28))).clip(0, 255)
        write_idx_gz(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx_gz(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def make_cifar10(root: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """Small CIFAR-10 'python version' batches: pickled dicts as the real ones read back with
    ``encoding="latin1"`` (str keys; they were written by Python 2)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = rng.integers(0, 10, per_batch).tolist()
        data = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(per_batch)]}, fh, protocol=2)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": classes, "num_cases_per_batch": per_batch, "num_vis": 3072}, fh, protocol=2)
    return root


@pytest.fixture
def fmnist_root(tmp_path):
    return make_fashion_mnist(tmp_path / "data")


@pytest.fixture
def cifar_root(tmp_path):
    return make_cifar10(tmp_path / "data")


def slow_after(values, n: int) -> list:
    """``values`` for ``parametrize``, those after the first ``n`` marked slow (``make check`` runs the first)."""
    return [v if i < n else pytest.param(v, marks=pytest.mark.slow) for i, v in enumerate(values)]


@pytest.fixture
def registry(monkeypatch):
    """The solvers' registry as it is (every method's module imported), restored after the test: a toy
    solver registered there does not outlive it."""
    from adaptres import solvers
    for name in solvers.methods():
        solvers.info(name)
    monkeypatch.setattr(solvers, "_REGISTRY", dict(solvers._REGISTRY))
    return solvers._REGISTRY


@pytest.fixture(scope="session")
def ray_session():
    """Ray, started once for the whole test session (``ray.init`` takes 4-5 s on 2 cores)."""
    from adaptres import cluster
    ray = cluster.start(num_cpus=2)
    yield ray
    cluster.stop()


# notebooks that share something with other tests, run in one group (in order, on one worker): notebook 02
# measures the model notebook 01 trains (the fast profile's run folder); notebook 09 runs on the network test bed
SHARED_GROUPS = {"01_train": "training", "02_ablation": "training", "09_live": "testbed"}
# the network test bed the tests share (the fast profile's notebook 09 has as many devices: it runs on it too,
# before the test that takes it down)
TESTBED_DEVICES = 3
ON_THE_SHARED_BED = ("09_live",)


def pytest_configure(config):
    config.addinivalue_line("markers", "takes_testbed_down: the shared test bed's last test (it takes the bed down)")


@pytest.fixture(scope="session")
def bed():
    """The network test bed with ``TESTBED_DEVICES`` devices, up for the tests that need it (the commands and
    notebook 09 find it up and leave it so) until the session ends or the test marked ``takes_testbed_down``."""
    from adaptres import testbed
    testbed.down()
    testbed.up(TESTBED_DEVICES)
    yield TESTBED_DEVICES
    testbed.down()
# a notebook's cell may run longer than a test (pyproject's timeout): on the AVX2-only 2-core machines the fast
# profile's ablation (notebook 02), runtime (08) and live (09) cells ran past 300 s beside the other worker
NOTEBOOK_CELL_TIMEOUT_S = 900


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """For the parallel run (pytest-xdist, ``--dist loadgroup``): a notebook's cells share one kernel, so each
    notebook is one group, or the group it shares (``SHARED_GROUPS``).
    First of its kind (``tryfirst``): pytest-xdist reads the groups in its own hook, which otherwise may run
    before this one and then sees no group at all."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(path.stem, path.stem)))
            item.add_marker(pytest.mark.timeout(NOTEBOOK_CELL_TIMEOUT_S))
        elif "ray_session" in getattr(item, "fixturenames", ()) and item.get_closest_marker("xdist_group") is None:
            # the tests on the session's Ray run on one worker: Ray and the runtime's module of actors start once
            # (spread over both workers, each started its own: the suite's costliest set-up, twice)
            item.add_marker(pytest.mark.xdist_group("ray"))
    # the notebooks that run on the shared test bed go just before the test that takes it down (same group: in
    # this order on one worker; the bed fixture is the session's, so it stays up across the notebook's cells)
    last = next((i for i in items if i.get_closest_marker("takes_testbed_down")), None)
    on_bed = [i for i in items if Path(str(i.fspath)).stem in ON_THE_SHARED_BED and Path(str(i.fspath)).suffix == ".ipynb"]
    if last is not None and on_bed:
        moved = set(map(id, on_bed))
        rest = [i for i in items if id(i) not in moved]
        k = rest.index(last)
        items[:] = rest[:k] + on_bed + rest[k:]
    # pytest-xdist hands out the groups first (most items first), then the other tests in this order as workers free
    # up: the modules with slow tests first, so that the run ends on short tests rather than one worker finishing a
    # long one alone (a group keeps its order: it runs on one worker as listed; a module stays together: its
    # module-scoped fixtures are made once per worker)
    grouped = [i for i in items if i.get_closest_marker("xdist_group") is not None]
    alone = [i for i in items if i.get_closest_marker("xdist_group") is None]
    slow = {str(i.fspath) for i in alone if i.get_closest_marker("slow")}
    items[:] = grouped + sorted(alone, key=lambda i: str(i.fspath) not in slow)
