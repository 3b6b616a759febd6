"""The main job: run every notebook in order through papermill with a profile, then write a report.

Everything a run writes goes to ``runs/<profile>/`` (git-ignored): the executed notebooks, the
notebooks' notes, the figures, the per-step results and the report, so a run leaves the checkout
as it found it. ``publish=True`` then copies them to their committed places (``figures/<profile>/``,
``data/results/``, ``data/results/main_job_<profile>/``), to be committed; on a run that is up to
date it only copies.

Every result that fits the budget is recomputed: the solver comparison and the evaluation sweeps
run again. What is reused is named per notebook in the report: the ``cpu`` profile's committed
training log and ablation table (about an hour on 2 cores; ``retrain`` makes them again) and the
224-px accuracy table measured on a GPU. ``replay`` reads the committed per-step results of the
evaluation notebooks back instead of simulating (a quick look; the report says so).

A notebook whose executed copy is there and whose inputs (the notebook, the package's sources,
the profile, its parameters) have not changed since is skipped; a failing notebook stops the job
with the notebook and the cell named.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from ..io import atomic_write_text, file_hash, git_commit, provenance, write_table
from ..paths import NOTEBOOKS, PACKAGE, figures_dir, relative, results_dir, run_dir
from . import cpu_busy, executed


def note(section: str, profile: str, **numbers) -> dict:
    """Record a notebook's key numbers (JSON-able) for the report; returns them for display."""
    path = run_dir(profile) / "notes" / f"{section}.json"
    atomic_write_text(path, json.dumps(numbers, indent=2, sort_keys=True, default=str))
    return numbers


def _set_aside_other_recipe(train_dir: Path, recipe) -> None:
    """A run folder of the main job left by another recipe (the profile changed since) is renamed
    ``<folder>-<its recipe hash>``, kept, and the model trained afresh."""
    from ..io import read_json
    from ..nn.recipe import Recipe
    saved = train_dir / "recipe.json"
    if not saved.is_file():
        return
    try:
        old = Recipe.from_dict(read_json(saved, "recipe"), where=str(saved)).sha256()
    except ValueError:
        old = "unreadable"
    if old != recipe.sha256():
        dest = train_dir.with_name(f"{train_dir.name}-{old}")
        shutil.rmtree(dest, ignore_errors=True)
        train_dir.rename(dest)
        print(f"[study] {relative(train_dir)} held a run of another recipe ({old}): kept as {relative(dest)}, "
              "training afresh", flush=True)


def training(profile: str, retrain: bool = False, device: str | None = None, model: str = "standard"):
    """Notebook 01's work for one of the profile's models (``standard``, ``dropaware``): its training log
    and provenance. A profile whose results are committed (``cpu``) reuses them when they name the
    model's current recipe, unless ``retrain``; otherwise it trains (resuming from the last
    checkpoint) and writes the log (and, where the profile commits them, the fp16 weights).
    Returns (history, meta, reused)."""
    from ..experiments import profiles
    from ..nn import train
    if not retrain:
        done = profiles.committed_results(profile, model)
        if done is not None:
            return done["history"], done["history_meta"], True
    recipe, out = profiles.recipes(profile)[model], profiles.outputs(profile, model)
    _set_aside_other_recipe(out["train_dir"], recipe)
    history = train.train(recipe, out["train_dir"], device=device)
    extra = {}
    if out["weights"] is not None:
        train.save_weights_fp16(out["train_dir"] / "model.pt", out["weights"])
        extra = {"weights": relative(out["weights"]), "weights_sha256": file_hash(out["weights"])}
    dev = train.pick_device(device)
    meta = provenance(profile=profile, model=model, dataset=recipe.dataset, arch=recipe.arch, stem=recipe.stem,
                      px=recipe.image_size, epochs=recipe.epochs, seed=recipe.seed, device=str(dev),
                      precision=train.precision(recipe.amp, dev), recipe_sha256=recipe.sha256(),
                      model_sha256=file_hash(out["train_dir"] / "model.pt"), **extra)
    write_table(history, out["history"], meta)
    return history, meta, False


def ablation_table(profile: str, retrain: bool = False, device: str | None = None, model: str = "standard"):
    """Notebook 02's work for one model: its ablation table (provenance in ``table.attrs``), reused like
    ``training``'s log, else measured for the trained model — from its committed fp16 weights where the
    profile commits them (``training`` rewrites them), so that a fresh clone reproduces the table
    without training. Returns (table, reused)."""
    from ..experiments import profiles
    from ..nn import ablation, data, train
    P = profiles.get(profile)
    if not retrain:
        done = profiles.committed_results(profile, model)
        if done is not None:
            table = ablation.with_family(done["ablation"])
            table.attrs.update(done["ablation_meta"])
            return table, True
    out = profiles.outputs(profile, model)
    dev = train.pick_device(device)
    weights = out["train_dir"] / "model.pt"
    if out["weights"] is not None and out["weights"].exists():  # measured on what is committed (fp16)
        weights = out["weights"]
    net, recipe = train.load_trained(out["train_dir"], dev, weights=weights, recipe=profiles.recipes(profile)[model])
    test = data.load(recipe.dataset, "test").subset(P.ablation_limit(recipe), recipe.seed)
    table = ablation.measure(net, recipe, test, dev, P.ablation_batch_size, out=out["ablation"],
                           model_sha=file_hash(weights))
    return table, False


def _inputs_hash(nb: Path, profile: str, parameters: dict | None = None) -> str:
    h = hashlib.sha256(profile.encode())
    h.update(json.dumps(parameters or {}, sort_keys=True).encode())
    cells = json.loads(nb.read_text())["cells"]  # the notebook's sources: not its outputs, which runs rewrite
    h.update(json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells]).encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def select(only: list[str] | None) -> list[Path]:
    """The notebooks whose names start with one of ``only`` (every notebook when ``only`` is None)."""
    if only is None:
        return notebooks()
    if not only or any(not o.strip() for o in only):
        raise ValueError(f"--only: give notebook name prefixes such as 00 or 04_eval, got {only!r}")
    selected = [nb for nb in notebooks() if any(nb.stem.startswith(o) for o in only)]
    if not selected:
        raise ValueError(f"--only: no notebook matches {' '.join(only)} "
                         f"(notebooks: {', '.join(nb.stem for nb in notebooks())})")
    return selected


@contextlib.contextmanager
def _environment(profile: str, replay: bool):
    """The notebooks' kernels (which inherit the environment) write figures and results into the run."""
    out_dir = run_dir(profile)
    env = {"ADAPTRES_RUN_DIR": str(out_dir), "ADAPTRES_FIGURES": str(out_dir / "figures"),
           "TQDM_DISABLE": "1"}  # no progress bars in the executed notebooks (they show in interactive use)
    if not replay:  # a replay reads the committed results where they are
        env["ADAPTRES_RESULTS"] = str(out_dir / "results")
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_one(nb: Path, target: Path, params: dict, progress: bool) -> float:
    import papermill as pm
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(target), parameters=params, cwd=str(nb.parent), kernel_name="python3",
                            progress_bar=progress, log_output=False,
                            extra_arguments=["--log-level=ERROR"])  # no kernel start-up notices per notebook
    except pm.PapermillExecutionError as exc:
        raise RuntimeError(f"notebook {nb.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                           f"{exc.ename}: {str(exc.evalue).splitlines()[0] if exc.evalue else ''}; "
                           f"the executed notebook is {target}") from None
    return time.perf_counter() - t0


def _one(nb: Path, *, out_dir: Path, profile: str, force: bool, in_place: bool, progress: bool, retrain: bool,
         replay: bool, t0: float) -> dict:
    """Run one notebook unless its executed copy is up to date; its line of the report (``t0``: the job's start,
    from which its minutes are counted)."""
    import papermill as pm
    target = nb if in_place else out_dir / nb.name
    stamp = out_dir / f"{nb.stem}.done.json"
    declared = pm.inspect_notebook(str(nb))
    params = {"profile": profile, **{k: True for k, on in (("retrain", retrain), ("replay", replay))
                                     if on and k in declared}}
    key = _inputs_hash(nb, profile, params)
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    if not force and not in_place and target.exists() and done.get("inputs") == key:
        print(f"[study] {nb.name}: up to date, skipped", flush=True)
        return {"notebook": nb.name, "status": "skipped (up to date; seconds: its last run)", "seconds": done.get("seconds")}
    print(f"[study] {nb.name}: running with {params}", flush=True)
    started = time.time() - t0
    dt = _run_one(nb, target, params, progress)
    executed.clean(target)
    atomic_write_text(stamp, json.dumps({"inputs": key, "seconds": round(dt, 1)}))
    print(f"[study] {nb.name}: done in {dt:.0f} s", flush=True)
    return {"notebook": nb.name, "status": "ran", "seconds": round(dt, 1), "started_min": round(started / 60, 1),
            "ended_min": round((time.time() - t0) / 60, 1)}


# The notebooks that make what the later ones read (the model, its accuracy tables) run first, one after another;
# then two lanes at once: one runs those on the network test bed, which they share, one after another, then helps
# with the others, which the second lane takes one after another from the start (the test bed's devices wait out
# the modelled compute and link times, so they keep to the model while the other lane computes;
# ``side_by_side=False`` runs every notebook alone).
FIRST = ("00_", "01_", "02_")
ON_THE_TESTBED = ("09_", "12_")


def lanes(selected: list[Path], side_by_side: bool = True,
          seconds: dict[str, float] | None = None) -> tuple[list[list[Path]], list[Path]]:
    """The notebooks of ``selected`` after the first ones (``FIRST``) as (each lane's own, the shared ones taken
    in order by whichever lane is free): the test bed's lane and an empty one, and the others shared, the longest
    first by ``seconds`` (a notebook's last measured run, by file name; those without one last, in order), so that
    no long one starts when the other lane is about to end; or, not ``side_by_side``, one lane of all."""
    rest = [nb for nb in selected if not nb.name.startswith(FIRST)]
    if not side_by_side:
        return [rest], []
    bed = [nb for nb in rest if nb.name.startswith(ON_THE_TESTBED)]
    known = seconds or {}
    return [bed, []], sorted((nb for nb in rest if nb not in bed), key=lambda nb: -known.get(nb.name, 0.0))


def last_seconds() -> dict[str, float]:
    """Each notebook's seconds in the last measured ``make study`` (``data/results/timings_study.csv``; none
    where it is not committed)."""
    from ..io import read_table
    from .timings import WHERE
    if not WHERE["study"].is_file():
        return {}
    t, _ = read_table(WHERE["study"], required=("notebook", "seconds"), what="study time")
    return {r.notebook: float(r.seconds) for r in t.itertuples() if str(r.seconds).strip()}


def run(profile: str = "cpu", only: list[str] | None = None, force: bool = False, in_place: bool = False,
        progress: bool = True, retrain: bool = False, replay: bool = False, publish: bool = False,
        side_by_side: bool = True) -> Path:
    """Execute the notebooks (in lanes: ``lanes``); return the report's path. Raises RuntimeError naming a failed
    cell. ``retrain`` and ``replay`` are passed to the notebooks that take them (see the module's docstring)."""
    from ..experiments import profiles
    from . import lanes as side
    profiles.get(profile)  # validates the name
    selected = select(only)
    out_dir = run_dir(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    one = functools.partial(_one, out_dir=out_dir, profile=profile, force=force, in_place=in_place, progress=progress,
                            retrain=retrain, replay=replay, t0=t0)
    own, shared = lanes(selected, side_by_side, last_seconds())
    if not any(own[1:]) and not (own[0] and shared):  # one lane's worth of work: in this process
        own, shared = [[*own[0], *shared]], []
    bed_before = _bed_up()
    with _environment(profile, replay), _bed_not_left(bed_before), cpu_busy.sampled(out_dir / "cpu_busy.csv", t0):
        status = [one(nb) for nb in selected if nb.name.startswith(FIRST)]
        # two lanes at once: no progress bars (they would write over each other), a line per notebook
        status += side.run(own, functools.partial(one, progress=False) if len(own) > 1 else one, shared)
        status.sort(key=lambda s: s["notebook"])
        report = write_report(profile, status, wall_s=time.time() - t0, side_by_side=len(own) > 1)
    if publish:
        publish_run(profile)
    return report


def _bed_up() -> bool:
    from .. import testbed
    return testbed.available() is None and bool(testbed.namespaces())


@contextlib.contextmanager
def _bed_not_left(up_before: bool):
    """On Ctrl-C, a test bed that was not up when the job started is taken down: the notebook that brought it up
    takes it down however it ends, but papermill, which gets the Ctrl-C too, may end its kernel first."""
    try:
        yield
    except KeyboardInterrupt:
        if not up_before and _bed_up():
            from .. import testbed
            testbed.down()
            print("[study] interrupted: the test bed a notebook had brought up is taken down", flush=True)
        raise


def publish_run(profile: str) -> Path:
    """Copy a finished run to the committed places: its figures to ``figures/<profile>/``, its per-step
    results to ``data/results/``, its executed notebooks and report to ``data/results/main_job_<profile>/``."""
    src = run_dir(profile)
    figures, results = figures_dir(profile), results_dir()
    dest = results / f"main_job_{profile}"
    pairs = [(f, figures / f.name) for f in sorted((src / "figures" / profile).glob("*"))]
    pairs += [(f, results / f.name) for f in sorted((src / "results").glob("*.csv"))]
    pairs += [(f, dest / f.name) for f in sorted(src.glob("[0-9][0-9]_*.ipynb"))]
    pairs += [(f, dest / "notes" / f.name) for f in sorted((src / "notes").glob("*.json"))]
    for a, b in pairs:
        b.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a, b)
    report = (src / "report.md").read_text().replace(f"](figures/{profile}/", f"]({os.path.relpath(figures, dest)}/")
    report = re.sub(r"Figures: `[^`]*`; per-step results: `[^`]*`",
                    f"Figures: `{relative(figures)}`; per-step results: `{relative(results)}`", report, count=1)
    atomic_write_text(dest / "report.md", report)
    print(f"[study] published {len(pairs)} files from {relative(src)} to {relative(figures)}, {relative(results)}, "
          f"{relative(dest)}", flush=True)
    return dest


def _claims_table(notes: list[Path]) -> list[str]:
    """The paper's claims from the notebooks' notes, counted per accuracy table (and controller) and per
    reading: a note's key ``[table] 6(a) ... (per step)`` names the table a claim was checked on (no
    prefix: the notebook's only one) and how it was read (per step, or per served request)."""
    claims = [(path.stem, k, v) for path in notes for k, v in json.loads(path.read_text()).items()
              if isinstance(v, str) and v.split(":")[0] in ("held", "not held", "n/a")]
    if not claims:
        return []
    table_of = lambda k: k[1:k.index("]")] if k.startswith("[") else ""
    readings = ("per step", "per request")
    reading_of = lambda k: next((r for r in readings if k.endswith(f" ({r})")), "")
    # each claim once per reading: its row of that reading where it was read both ways, else its one row
    by_claim: dict[tuple[str, str], dict[str, str]] = {}
    for _, k, v in claims:
        r = reading_of(k)
        by_claim.setdefault((table_of(k), k[:len(k) - len(r) - 3] if r else k), {})[r] = v
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for (t, _), rows in by_claim.items():
        for r in readings if any(x in rows for x in readings) else ("",):
            v = rows.get(r, next(iter(rows.values())))
            held, total = counts.get((t, r), (0, 0))
            counts[(t, r)] = (held + v.startswith("held"), total + 1)
    head = "; ".join(f"{h} of {n} held" + (f" on the {t} table" if t else "") + (f", read {r}" if r else "")
                     for (t, r), (h, n) in counts.items())
    lines = ["", f"## The paper's claims: {head}", "", "| notebook | claim | verdict | this run |", "|---|---|---|---|"]
    for nb, k, v in claims:
        verdict, _, shows = v.partition(": ")
        lines.append(f"| {nb} | {k} | **{verdict}** | {shows} |")
    return lines


def write_report(profile: str, status: list[dict], wall_s: float | None = None, side_by_side: bool = False) -> Path:
    """``runs/<profile>/report.md``: what ran (and what each notebook reused, the minutes of the job it ran in),
    the claims, the key numbers and every figure; ``wall_s``: the job's time, ``side_by_side``: whether it ran in
    lanes (``lanes``)."""
    from ..experiments.load_test import cpu_model
    out_dir = run_dir(profile)
    notes_dir = out_dir / "notes"
    notes = sorted(notes_dir.glob("*.json")) if notes_dir.exists() else []
    reused = {p.stem: json.loads(p.read_text()).get("reused") for p in notes}
    took = "" if wall_s is None else f" The job took {wall_s / 60:.1f} min on {cpu_model()}, {os.cpu_count()} cores"
    if took and side_by_side:
        took += (f", in two lanes side by side after {', '.join(f[:-1] for f in FIRST)} (lane 0 first runs the "
                 f"notebooks on the test bed, {', '.join(f[:-1] for f in ON_THE_TESTBED)})")
    lines = [f"# adaptres study — profile `{profile}`", "",
             f"Commit `{git_commit()}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Figures: `{relative(figures_dir(profile))}`; per-step results: `{relative(results_dir())}`."
             + (f"{took}." if took else ""), "",
             "## Notebooks", "", "| notebook | status | seconds | minutes of the job (lane) | reused (not computed "
             "in this run) |", "|---|---|---|---|---|"]
    for s in status:
        lane = f" ({s['lane']})" if side_by_side and "lane" in s else ""
        when = f"{s['started_min']}–{s['ended_min']}" if "started_min" in s else ""
        lines.append(f"| [{s['notebook']}]({s['notebook']}) | {s['status']} | {s['seconds'] or ''} | "
                     f"{when}{lane} | {reused.get(Path(s['notebook']).stem) or '—'} |")
    lines += _claims_table(notes)
    if notes:
        lines += ["", "## Key numbers", ""]
        for path in notes:
            lines += [f"### {path.stem}", ""]
            lines += [f"- **{k}**: {v}" for k, v in json.loads(path.read_text()).items()] + [""]
    figs = sorted(figures_dir(profile).glob("*.png"))
    if figs:
        lines += ["", "## Figures", ""]
        for f in figs:
            rel = os.path.relpath(f, out_dir)
            lines += [f"![{f.stem}]({rel})  ", f"`{f.stem}` ([PDF]({rel[:-4]}.pdf))", ""]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines) + "\n")
    if wall_s is not None:  # the same lines as a table: where the job's time went (``timings study`` keeps it)
        import pandas as pd
        cols = ["notebook", "status", "seconds", "started_min", "ended_min", "lane"]
        write_table(pd.DataFrame(status).reindex(columns=cols), out_dir / "notebooks.csv",
                    provenance(profile=profile, cpu=cpu_model(), cores=os.cpu_count(), minutes=f"{wall_s / 60:.1f}",
                               side_by_side=side_by_side))
    print(f"[study] report: {report}", flush=True)
    return report


def main(profile: str, only=None, force=False, in_place=False, retrain=False, replay=False, publish=False,
         side_by_side=True) -> int:
    try:
        run(profile, only, force, in_place, retrain=retrain, replay=replay, publish=publish, side_by_side=side_by_side)
    except RuntimeError as exc:
        print(f"adaptres study: {exc}", file=sys.stderr)
        return 1
    return 0
