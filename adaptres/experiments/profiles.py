"""Named settings for the whole study: ``fast`` (tests), ``cpu`` (the default main job), ``paper`` (GPU).

A profile fixes the training recipe, the ablation and the optimisation/simulation sizes. Notebooks
take a profile name in their ``parameters`` cell and read everything else from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..io import read_table
from ..nn.recipe import Recipe
from ..paths import MODELS_DIR, REPO, STUDY

# The accuracy table measured at 224 px (Fashion-MNIST, the paper's recipe without ImageNet weights, on an
# H200): the solver comparison (notebook 03, ``optim``) works with it and ResNet-50's costs at 224 px, at the
# paper's scale; the fast profile's sweeps too. The cpu profile's sweeps use its own 32-px models (``TABLES``).
TABLE_224 = "data/study/fmnist_r50_224px_paper-recipe_h200_ablation.csv"


@dataclass(frozen=True)
class Optim:
    """The solver comparison (notebook 03): ``steps`` §V-A steps of N devices at λ, every method with a
    ``time_limit`` per solve (the GA ``ga_time_limit``), then a devices × requests grid."""

    table: str
    steps: int
    n_devices: int
    lam: float
    time_limit: float
    ga_time_limit: float
    scale_devices: tuple[int, ...]
    scale_requests: tuple[int, ...]
    scale_time_limit: float


@dataclass(frozen=True)
class Sim:
    """The evaluation sections (§V-A..D, notebooks 04-07): the paper's devices (SPEC §7) and what each
    section sweeps, every step solved by ``method``. Battery levels are J per low/high device, computational
    capacity G multiplications per step. ``table`` names the accuracy table (and so the network),
    ``compare_table`` a second one whose claims are checked too (""). ``engine``: the sweep's (point, seed)
    runs as Ray tasks or one after another. ``scale`` and ``threshold_shift`` are set by ``sim.inputs``
    for the table's network (the §V devices scaled to it; the paper's thresholds moved by its full model)."""

    table: str
    compare_table: str
    n_devices: int
    steps: int
    seeds: tuple[int, ...]
    method: str
    time_limit: float
    engine: str
    rel_gap: float
    max_nodes: int | None
    warm_start: bool
    betas: tuple[float, ...]
    thresholds: tuple[float, ...]
    battery_j: tuple[tuple[float, float], ...]
    lams: tuple[float, ...]
    compute_g: tuple[tuple[float, float], ...]
    scale: object = None  # problem.generate.Scale, set by sim.inputs
    threshold_shift: float = 0.0


@dataclass(frozen=True)
class Runtime:
    """Notebook 08: a §V-A step of ``n_devices`` and ``n_requests`` executed on Ray at ``speed`` times the §V
    devices' and links' speed, re-planned by ``method``; a failure sweep killing each of ``kills`` devices
    ``at_s`` seconds into the step, for each of ``seeds``."""

    n_devices: int
    n_requests: int
    seed: int
    seeds: tuple[int, ...]
    kills: tuple[int, ...]
    at_s: float
    speed: float
    method: str


@dataclass(frozen=True)
class Live:
    """Notebook 09: the closed loop on the network test bed (``serve``), §V ``section``'s setting with
    ``n_devices``: ``steps`` steps for each of ``seeds``, one request at a time, beside the simulator; then
    one horizon of ``failure_steps`` with the devices of ``fail`` killed and the links of ``cut`` cut
    (``serve``'s ``--fail``/``--cut`` forms), requests all at once."""

    section: str
    n_devices: int
    steps: int
    seeds: tuple[int, ...]
    failure_steps: int
    fail: tuple[str, ...]
    cut: tuple[str, ...]
    method: str


@dataclass(frozen=True)
class Horizon:
    """Notebook 10 and ``simulate``: decisions over a horizon. For each §V section of ``points`` (its base
    setting with those overrides, ``n_devices`` devices), ``steps`` steps for each of ``seeds``, every step
    solved by ``method`` under the myopic controller, by relaxation + Algorithm 1 (the paper's), and by
    ``method`` under the horizon controller with drift-plus-penalty's ``v``."""

    points: tuple[tuple[str, tuple[tuple[str, tuple[float, float]], ...]], ...]
    table: str  # the accuracy table (and so the network and the scaled §V devices)
    n_devices: int
    steps: int
    seeds: tuple[int, ...]
    method: str
    time_limit: float
    v: float
    engine: str  # the horizons as Ray tasks (one CPU each) or one after another


@dataclass(frozen=True)
class Load:
    """Notebook 12 and ``load``: requests in real time on §V ``section``'s devices (the network of accuracy table
    ``table``), planned every ``epoch_s`` seconds. The SLO is ``slo_factor`` × the static chain's unloaded
    modelled latency. Plans by ``method`` within ``time_limit`` seconds (re-plans too); the adaptive policy
    gives each device what it can finish within ``window_s`` and expects its plan on the devices
    ``planner_s`` after planning starts. Sweeps (simulated): each offered load of ``loads`` (× the static
    chain's modelled capacity) for ``duration_s`` seconds and each of ``seeds``, with ``n_devices``, and the
    largest goodput over ``devices``; live, on the test bed (or one host), each policy at ``live_loads`` ×
    C_static (the highest of ``loads`` at which the static chain keeps 90 % of its promises) for
    ``live_duration_s``; the adaptive policy with the devices of ``kill`` killed at ``kill_load`` × C_static
    (``--fail``'s form), and with those of ``kills`` killed a moment apart. The full sweep (``bench load``,
    committed) runs every load for ``full_duration_s`` and each of ``full_seeds``. The paper's policy plans
    with ``method``, the adaptive one with ``adaptive_method``. On the simulated queues a plan reaches the
    devices after the planner's measured time (``sim_planner`` "measured") or after a fixed one (a number of
    seconds: the same seed then gives the same tables on any machine). Every transfer between devices takes
    ``link_overhead_s`` more than its bytes over the rate: what notebook 09 fits on the network test bed
    (0.029 s; Ray's round trips and TCP's), so that the planner's model is the test bed's."""

    section: str
    table: str
    n_devices: int
    epoch_s: float
    slo_factor: float
    method: str
    adaptive_method: str
    time_limit: float
    window_s: float
    planner_s: float
    loads: tuple[float, ...]
    duration_s: float
    seeds: tuple[int, ...]
    devices: tuple[int, ...]
    live_loads: tuple[float, ...]
    live_duration_s: float
    kill_load: float
    kill: tuple[str, ...]
    kills: tuple[str, ...]
    link_overhead_s: float = 0.0  # each transfer's fixed time in the load test's scenarios (the test bed's, fitted)
    live: bool = True  # notebook 12 runs the live part (the fast profile's nbval run stays simulated: minutes less)
    full_seeds: tuple[int, ...] = (0, 1, 2)
    full_duration_s: float = 120.0
    sim_planner: str | float = "measured"


@dataclass(frozen=True)
class Pareto:
    """Notebook 11: exact fronts of §V-A steps (``n_devices`` devices, ``n_requests`` requests, each of
    ``seeds``) read with each accuracy table of ``tables``: up to ``points`` points each, ``time_limit``
    seconds, ``rel_gap`` and ``max_nodes`` (a deterministic budget of the tree and the integer masters; None:
    time alone) per point; the weighted-sum optimum of each α of ``alphas`` marked; NSGA-II
    (population ``nsga_pop_size``) for the exact front's time; on the first table and seed, fronts under
    energy budgets ``energy_fractions`` of the way from the fastest plan's energy to the most accurate plan's, and
    with each N of ``over_n``."""

    tables: tuple[str, ...]
    n_devices: int
    n_requests: int
    seeds: tuple[int, ...]
    points: int
    time_limit: float
    rel_gap: float
    max_nodes: int | None
    alphas: tuple[float, ...]
    energy_fractions: tuple[float, ...]
    over_n: tuple[int, ...]
    nsga_pop_size: int


# the §V-A steps of notebook 04 (N = 10, λ = 3: three requests), on the drop-aware and the standard 32-px tables;
# α over the paper's grid of weights
PARETO_CPU = Pareto(tables=("cpu-dropaware", "cpu"), n_devices=10, n_requests=3, seeds=(0, 1, 2), points=10,
                    time_limit=10.0, rel_gap=1e-4, max_nodes=None, alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                    energy_fractions=(0.5, 0.25), over_n=(5, 10, 20), nsga_pop_size=100)


@dataclass(frozen=True)
class Profile:
    """Named settings for the whole study: the training recipe, the ablation's batch, the solver comparison,
    the evaluation sections' simulation and the runtime's experiments."""

    recipe: Recipe
    ablation_batch_size: int
    optim: Optim
    sim: Sim
    runtime: Runtime
    live: Live
    horizon: Horizon
    pareto: Pareto
    load: Load
    ablation_images: int | None = None  # test images the ablation measures on (None: the recipe's test_limit)

    def ablation_limit(self, recipe: Recipe) -> int | None:
        """How many test images the ablation of a model trained with ``recipe`` measures (None: all)."""
        return self.ablation_images or recipe.test_limit


# The §V sweeps solve every step by the column-generation LP rounded: 0.0 % above the optimum on median in
# notebook 03, against 10 % for relaxation + Algorithm 1; a tenth of a second a step, with a bound. Proving
# every step with colgen did not fit the main job (57 s on one step of 04 and over 8 min on one (point,
# seed)); the 200-node budget keeps the integer master's part deterministic. A served request costs about
# 14 J of the batteries (``BATTERY_J_PER_REQUEST``), so the paper's 800/1000 J never bind within a few steps:
# the sweep goes down to where they do.
BATTERY_J_PER_REQUEST = (7, 24)  # the energy of a served request, §V battery sweep (05, cpu): min and max, median 14 J
SIM_CPU = Sim(table="cpu-dropaware", compare_table="cpu", n_devices=10, steps=10, seeds=(0, 1, 2), method="colgen_round",
              time_limit=60.0, engine="ray", rel_gap=1e-2, max_nodes=200, warm_start=True, betas=(0.0, 0.5, 1.0),
              thresholds=(60.0, 70.0, 80.0), battery_j=((5, 10), (10, 20), (20, 40), (50, 100), (800, 1000)),
              lams=(1.0, 3.0, 5.0, 8.0), compute_g=((0.35, 0.7), (0.7, 1.4), (1.4, 2.8), (2.8, 5.6)))

# notebook 08: §V-A steps executed on Ray at the §V devices' speed (the committed drop-aware 32-px model)
RUNTIME_CPU = Runtime(n_devices=10, n_requests=6, seed=0, seeds=(0, 1, 2), kills=(0, 1, 2, 3), at_s=0.3, speed=1.0,
                      method="colgen_round")

# notebook 09: the closed loop on the test bed; §V-B's setting (α = 0, β = 1) splits requests across devices
# notebook 10: batteries that bind within the horizon (``BATTERY_J_PER_REQUEST``), §V-D at its scarce point
HORIZON_CPU = Horizon(points=(("V-B", (("battery_j", (50, 100)),)),
                              ("V-D", (("battery_j", (50, 100)), ("compute_g", (0.7, 1.4))))),
                      table="cpu-dropaware", n_devices=10, steps=30, seeds=(0, 1, 2), method="colgen_round",
                      time_limit=20.0, v=20.0, engine="ray")

# notebook 12: §V-A's devices (α = β = 0.5) on the drop-aware 32-px model, epochs of the paper's 1-s step
LOAD_CPU = Load(section="V-A", table="cpu-dropaware", n_devices=6, epoch_s=1.0, slo_factor=2.0, method="colgen_round",
                adaptive_method="greedy", time_limit=1.0, window_s=2.0, planner_s=0.1,
                loads=(0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0), duration_s=60.0, seeds=(0,),
                devices=(2, 4, 6), live_loads=(1.0, 2.0), live_duration_s=40.0, kill_load=1.5, kill=("3@15",),
                kills=("1@15", "4@15.15", "5@15.3"), link_overhead_s=0.03)

LIVE_CPU = Live(section="V-B", n_devices=6, steps=20, seeds=(0, 1, 2), failure_steps=6, fail=("2@2:0.5",),
                cut=("0-3@1:0.3",), method="colgen_round")

# Drop-aware training: the profile's recipe for its first half of the epochs, then per-sample drop path at 0.2
# on every residual block beside the full network, which the drop-path pass also learns from (sandwich,
# distill 0.5). Chosen by probes on a 2-core CPU (the cpu recipe, 2 epochs, drop path in the second;
# data/study/dropaware_probes_cpu.csv): linear rates rising to 0.5 left layer1.0 at 26.9 pt (its rate was
# 0.03); uniform 0.5 fell to 51.9 % for the full model; uniform 0.35 cost the full network 3.6 pt at two epochs
# and lost 1.07 pt on average over the single drops; uniform 0.2 cost it 0.8 pt and lost 0.95 (max 3.96), 98 of
# 120 pairs within 3 pt; a double weight on the full network's loss at 0.35 raised it to 72.06 % but doubled the
# single drops' loss.
DROP_AWARE = {"drop_path": 0.2, "drop_path_schedule": "uniform", "sandwich": True, "distill": 0.5}

PROFILES: dict[str, Profile] = {
    # seconds: a tiny ResNet-50 run on a few hundred images, for the tests and a quick look
    "fast": Profile(
        recipe=Recipe(dataset="fashion-mnist", arch="resnet50", stem="imagenet", image_size=32, epochs=2,
                      batch_size=64, lr=0.01, warmup_epochs=0.5, label_smoothing=0.1, train_limit=256, test_limit=256,
                      seed=0),
        ablation_batch_size=128,
        ablation_images=32,  # an eighth of the recipe's test images: notebook 02's ablation of both models in make test
        optim=Optim(table="224", steps=3, n_devices=4, lam=1.0, time_limit=20.0, ga_time_limit=3.0,
                    scale_devices=(3, 5), scale_requests=(1, 2), scale_time_limit=20.0),
        # five devices (an actor process each), devices and links 4 times the §V ones' speed, 0, 1, 3 devices killed
        runtime=Runtime(n_devices=5, n_requests=4, seed=0, seeds=(0,), kills=(0, 1, 3), at_s=0.1, speed=4.0,
                        method="colgen_round"),
        live=Live(section="V-B", n_devices=3, steps=3, seeds=(0,), failure_steps=3, fail=("1@2:0.3",),
                  cut=("0-2@1:0.3",), method="colgen_round"),
        horizon=dataclasses.replace(HORIZON_CPU, n_devices=4, steps=12, seeds=(0,), time_limit=10.0, engine="serial"),
        # one request a step: its plan is a shortest path, every point proven at the root whatever the machine's
        # speed (with two, the standard table's steps at N = 4 left gaps of 3 % after 60 s: counts that depend on
        # where time ends cannot be pinned); a node budget besides
        pareto=dataclasses.replace(PARETO_CPU, n_devices=4, n_requests=1, seeds=(0,), points=6, time_limit=30.0,
                                   max_nodes=20,
                                   alphas=(0.0, 0.5, 1.0), energy_fractions=(0.5,), over_n=(3, 4), nsga_pop_size=40),
        load=dataclasses.replace(LOAD_CPU, n_devices=4, loads=(0.25, 0.5, 1.0, 2.0), duration_s=20.0, seeds=(0,),
                                 devices=(2, 4), live_loads=(1.0,), live_duration_s=10.0, kill=("2@5",),
                                 kills=("1@5", "3@5.15"), sim_planner=0.05, live=False),
        sim=Sim(table="224", compare_table="cpu", n_devices=4, steps=3, seeds=(0, 1), method="colgen_round",
                time_limit=20.0, engine="serial", rel_gap=1e-2, max_nodes=200, warm_start=True, betas=(0.0, 1.0),
                thresholds=(70.0, 80.0), battery_j=((5, 10), (800, 1000)), lams=(1.0, 3.0),
                compute_g=((0.7, 1.4), (1.4, 2.8)))),
    # the default main job on a 2-core CPU: the whole of Fashion-MNIST, ResNet-50 at 32 px (4 epochs in fp32:
    # the standard and the drop-aware model at the same budget); the solver comparison (five methods, 20 steps
    # at 20 s per solve, a 5 × 5 grid at 15 s per solve) keeps the main job within ~45 min on 2 cores;
    # `python -m adaptres bench solvers` measures the scale targets at their own limits
    "cpu": Profile(
        recipe=Recipe(dataset="fashion-mnist", arch="resnet50", stem="imagenet", image_size=32, epochs=4,
                      batch_size=64, lr=0.05, warmup_epochs=0.2, label_smoothing=0.1, seed=0, amp=False),
        ablation_batch_size=500,
        optim=Optim(table="224", steps=20, n_devices=10, lam=3.0, time_limit=20.0, ga_time_limit=5.0,
                    scale_devices=(5, 10, 20, 50, 100), scale_requests=(1, 3, 10, 20, 50), scale_time_limit=15.0),
        runtime=RUNTIME_CPU, live=LIVE_CPU, horizon=HORIZON_CPU, pareto=PARETO_CPU, sim=SIM_CPU, load=LOAD_CPU),
    # the paper's recipe (§III): CIFAR-10 at 224 px, ImageNet weights, SGD lr 0.01, batch 512, 30 epochs;
    # its sweeps prove every step (colgen to 1e-4) on the 224-px table
    "paper": Profile(
        recipe=Recipe(dataset="cifar10", arch="resnet50", stem="imagenet", image_size=224, epochs=30,
                      batch_size=512, lr=0.01, momentum=0.9, weight_decay=0.0, schedule="constant",
                      weights="IMAGENET1K_V2", seed=0),
        ablation_batch_size=500,
        optim=Optim(table="224", steps=20, n_devices=10, lam=3.0, time_limit=60.0, ga_time_limit=30.0,
                    scale_devices=(5, 10, 20, 50, 100), scale_requests=(1, 3, 10, 20, 50), scale_time_limit=60.0),
        runtime=RUNTIME_CPU, live=LIVE_CPU, horizon=dataclasses.replace(HORIZON_CPU, table="224"), load=LOAD_CPU,
        pareto=dataclasses.replace(PARETO_CPU, tables=("224",), over_n=(10, 20, 50)),
        sim=dataclasses.replace(SIM_CPU, table="224", compare_table="", steps=20, seeds=(0, 1, 2, 3, 4), method="colgen",
                                time_limit=60.0, rel_gap=1e-4, max_nodes=None, betas=(0.0, 0.25, 0.5, 0.75, 1.0))),
}


# the unit costs the optimisation reads (a committed table of data/costs/): ResNet-50 at 224 px, 10 classes
UNITS = {"arch": "resnet50", "image_size": 224, "num_classes": 10}
PAPER_FULL_ACCURACY = 94.73  # the paper's full model (CIFAR-10, 224 px); its thresholds are 60-80 % below that


@dataclass(frozen=True)
class Table:
    """An accuracy table the optimisation can read, with the network its accuracies were measured on (its
    unit costs come from the same network: one model per scenario). ``thresholds``: "absolute" takes the
    paper's thresholds as they are; "relative" shifts them by (the table's full model − the paper's 94.73 %),
    for a model whose full accuracy is far below the paper's. The §V devices are scaled to the network
    (``problem.generate.Scale``) when it is not the paper's ResNet-50 at 224 px."""

    path: str
    units: dict
    thresholds: str
    what: str


TABLES = {
    "224": Table(TABLE_224, UNITS, "absolute", "paper recipe on Fashion-MNIST, 224 px, H200"),
    "cpu": Table("data/study/fmnist_r50_32px_cpu_ablation.csv", {**UNITS, "image_size": 32}, "relative",
                 "cpu recipe, 32 px, standard training"),
    "cpu-dropaware": Table("data/study/fmnist_r50_32px_cpu-dropaware_ablation.csv", {**UNITS, "image_size": 32},
                           "relative", "cpu recipe, 32 px, drop-aware training"),
}


def table(name: str) -> Table:
    if name not in TABLES:
        raise ValueError(f"table: must be one of {', '.join(TABLES)}, got {name!r}")
    return TABLES[name]


def get(name: str) -> Profile:
    if not isinstance(name, str) or name not in PROFILES:
        raise ValueError(f"profile: unknown profile {name!r} (expected one of {', '.join(PROFILES)})")
    return PROFILES[name]


def solver_options(S: Sim):
    """The solver options of a profile's simulation settings (``S``, overridden)."""
    from ..solvers import Options
    return Options(time_limit=S.time_limit, rel_gap=S.rel_gap, max_nodes=S.max_nodes, warm_start=S.warm_start)


MODELS = ("standard", "dropaware")


def recipes(name: str) -> dict:
    """A profile's two models: its standard recipe and the same with drop-aware training (``DROP_AWARE``)."""
    recipe = get(name).recipe
    return {"standard": recipe,
            "dropaware": dataclasses.replace(recipe, **DROP_AWARE, drop_path_from_epoch=recipe.epochs // 2)}


def outputs(name: str, model: str = "standard") -> dict:
    """Where a profile's training run and study tables go. The ``cpu`` profile's tables are the
    committed ones in ``data/study/`` (the main job regenerates them with ``retrain``), and its
    drop-aware model's weights are committed too (``data/models/``, fp16); others stay under ``runs/``."""
    get(name)
    if model not in MODELS:
        raise ValueError(f"model: must be one of {', '.join(MODELS)}, got {model!r}")
    tag = "" if model == "standard" else "-dropaware"
    run = REPO / "runs" / name
    if name == "cpu":
        stem = f"fmnist_r50_32px_cpu{tag}"
        return {"train_dir": run / f"train{tag}", "history": STUDY / f"{stem}_history.csv",
                "ablation": STUDY / f"{stem}_ablation.csv", "committed": True,
                "weights": MODELS_DIR / f"{stem}_fp16.pt" if model == "dropaware" else None}
    return {"train_dir": run / f"train{tag}", "history": run / f"history{tag}.csv", "ablation": run / f"ablation{tag}.csv",
            "committed": False, "weights": None}


def committed_results(name: str, model: str = "standard") -> dict | None:
    """The profile's committed training log and ablation table for ``model``, when both exist and their
    headers name its current recipe (``recipe_sha256``); else None. The main job reuses them unless
    asked to retrain, so that it fits its time budget on a CPU."""
    out = outputs(name, model)
    if not out["committed"] or not (out["history"].exists() and out["ablation"].exists()):
        return None
    want = recipes(name)[model].sha256()
    history, hmeta = read_table(out["history"], required=("epoch", "test_accuracy", "train_loss"), what="training log")
    table, tmeta = read_table(out["ablation"])
    if hmeta.get("recipe_sha256") != want or tmeta.get("recipe_sha256") != want:
        return None
    return {"history": history, "history_meta": hmeta, "ablation": table, "ablation_meta": tmeta}
