"""The main job: run every notebook in order through papermill with a profile, then write a report.

Executed notebooks go to ``runs/<profile>/`` (git-ignored). A notebook whose output is there and
whose inputs (the notebook, the package's sources, the profile) have not changed since is skipped.
A failing notebook stops the job with the notebook and the cell named. Notebooks record their key
numbers with ``note(...)``; the report (``runs/<profile>/report.md``) lists them with every figure.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from .train import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def run_dir(profile: str | None = None) -> Path:
    """Where a run keeps executed notebooks and notes: ``$ADAPTRES_RUN_DIR`` or ``runs/<profile>``."""
    env = os.environ.get("ADAPTRES_RUN_DIR")
    if env:
        return Path(env)
    return REPO / "runs" / (profile or "interactive")


def note(section: str, profile: str, **numbers) -> dict:
    """Record a notebook's key numbers (JSON-able) for the report; returns them for display."""
    path = run_dir(profile) / "notes" / f"{section}.json"
    atomic_write_text(path, json.dumps(numbers, indent=2, sort_keys=True, default=str))
    return numbers


def training(profile: str, retrain: bool = False, device: str | None = None):
    """Notebook 01's work: the profile's training log and its provenance. A profile whose results are
    committed (``cpu``) reuses them when they name its current recipe, unless ``retrain``; otherwise
    it trains (resuming from the last checkpoint) and writes the log. Returns (history, meta, reused)."""
    from . import ablation, profiles, train
    if not retrain:
        done = profiles.committed_results(profile)
        if done is not None:
            return done["history"], done["history_meta"], True
    recipe, out = profiles.get(profile)["recipe"], profiles.outputs(profile)
    history = train.train(recipe, out["train_dir"], device=device)
    meta = ablation.provenance(profile=profile, dataset=recipe.dataset, arch=recipe.arch, stem=recipe.stem,
                               px=recipe.image_size, epochs=recipe.epochs, seed=recipe.seed,
                               device=str(train.pick_device(device)), recipe_sha256=recipe.sha256(),
                               model_sha256=ablation.file_hash(out["train_dir"] / "model.pt"))
    ablation.write_table(history, out["history"], meta)
    return history, meta, False


def ablation_table(profile: str, retrain: bool = False, device: str | None = None):
    """Notebook 02's work: the profile's ablation table (provenance in ``table.attrs``), reused like
    ``training``'s log, else measured for the trained model. Returns (table, reused)."""
    from . import ablation, data, profiles, train
    P = profiles.get(profile)
    if not retrain:
        done = profiles.committed_results(profile)
        if done is not None:
            done["ablation"].attrs.update(done["ablation_meta"])
            return done["ablation"], True
    out = profiles.outputs(profile)
    dev = train.pick_device(device)
    model, recipe = train.load_trained(out["train_dir"], dev)
    test = data.load(recipe.dataset, "test").subset(recipe.test_limit, recipe.seed)
    table = ablation.study(model, recipe, test, dev, P["ablation_batch_size"], out=out["ablation"],
                           model_sha=ablation.file_hash(out["train_dir"] / "model.pt"))
    return table, False


def _inputs_hash(nb: Path, profile: str, parameters: dict | None = None) -> str:
    h = hashlib.sha256(profile.encode())
    h.update(json.dumps(parameters or {}, sort_keys=True).encode())
    for path in [nb, *sorted((REPO / "adaptres").glob("*.py"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def run(profile: str = "cpu", only: list[str] | None = None, force: bool = False, in_place: bool = False,
        progress: bool = True, retrain: bool = False) -> Path:
    """Execute the notebooks; return the report's path. Raises RuntimeError naming a failed cell.
    ``retrain`` is passed to the notebooks that take it (01, 02): train and measure again instead of
    reusing the profile's committed results."""
    import papermill as pm

    from . import profiles
    profiles.get(profile)  # validates the name
    out_dir = run_dir(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ADAPTRES_RUN_DIR"] = str(out_dir)  # the kernels inherit it
    selected = [nb for nb in notebooks() if not only or any(nb.stem.startswith(o) for o in only)]
    if only and not selected:
        raise ValueError(f"only: no notebook matches {only}")
    status = []
    for nb in selected:
        target = nb if in_place else out_dir / nb.name
        stamp = out_dir / f"{nb.stem}.done.json"
        declared = pm.inspect_notebook(str(nb))
        params = {"profile": profile, **({"retrain": True} if retrain and "retrain" in declared else {})}
        key = _inputs_hash(nb, profile, params)
        if not force and not in_place and target.exists() and stamp.exists() and \
                json.loads(stamp.read_text()).get("inputs") == key:
            print(f"[study] {nb.name}: up to date, skipped", flush=True)
            status.append({"notebook": nb.name, "status": "skipped (up to date)", "seconds": None})
            continue
        print(f"[study] {nb.name}: running with profile={profile}", flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(target), parameters=params, cwd=str(NOTEBOOKS),
                                kernel_name="python3", progress_bar=progress, log_output=False)
        except pm.PapermillExecutionError as exc:
            raise RuntimeError(f"notebook {nb.name} failed in cell {exc.cell_index} "
                               f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}; "
                               f"the executed notebook is {target}") from None
        dt = time.perf_counter() - t0
        atomic_write_text(stamp, json.dumps({"inputs": key, "seconds": round(dt, 1)}))
        status.append({"notebook": nb.name, "status": "ran", "seconds": round(dt, 1)})
        print(f"[study] {nb.name}: done in {dt:.0f} s", flush=True)
    return write_report(profile, status)


def write_report(profile: str, status: list[dict]) -> Path:
    from .ablation import git_commit
    from .plots import figures_dir

    out_dir = run_dir(profile)
    lines = [f"# adaptres study — profile `{profile}`", "",
             f"Commit `{git_commit()}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "## Notebooks", "", "| notebook | status | seconds |", "|---|---|---|"]
    for s in status:
        lines.append(f"| [{s['notebook']}]({s['notebook']}) | {s['status']} | {s['seconds'] or ''} |")
    notes = sorted((out_dir / "notes").glob("*.json")) if (out_dir / "notes").exists() else []
    claims = [(path.stem, k, v) for path in notes for k, v in json.loads(path.read_text()).items()
              if isinstance(v, str) and v.split(":")[0] in ("held", "not held", "n/a")]
    if claims:
        n_held = sum(v.startswith("held") for _, _, v in claims)
        lines += ["", f"## The paper's claims: {n_held} of {len(claims)} held in this run", "",
                  "| notebook | claim | verdict | this run |", "|---|---|---|---|"]
        for nb, k, v in claims:
            verdict, _, shows = v.partition(": ")
            lines.append(f"| {nb} | {k} | **{verdict}** | {shows} |")
    if notes:
        lines += ["", "## Key numbers", ""]
        for path in notes:
            lines.append(f"### {path.stem}")
            lines.append("")
            for k, v in json.loads(path.read_text()).items():
                lines.append(f"- **{k}**: {v}")
            lines.append("")
    figs = sorted(figures_dir(profile).glob("*.png"))
    if figs:
        lines += ["", "## Figures", ""]
        for f in figs:
            rel = os.path.relpath(f, out_dir)
            lines.append(f"![{f.stem}]({rel})  ")
            lines.append(f"`{f.stem}` ([PDF]({rel[:-4]}.pdf))")
            lines.append("")
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines) + "\n")
    print(f"[study] report: {report}", flush=True)
    return report


def main(profile: str, only=None, force=False, in_place=False, retrain=False) -> int:
    try:
        run(profile, only, force, in_place, retrain=retrain)
    except RuntimeError as exc:
        print(f"adaptres study: {exc}", file=sys.stderr)
        return 1
    return 0
