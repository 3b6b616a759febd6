"""Failures met: every unfinished request that still needs a failed device or a cut link resumes from the
last activation a surviving device holds, re-planned on the survivors by the project's solver
(``routes.replan``) in a worker thread, off the engine's loop, so that a failure during another's re-plan
is seen at once; or it ends unserved with the reason. A request whose re-plan comes back after a newer
failure is re-planned again. A mixin of ``engine.Engine``."""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

from .. import solvers
from ..problem.kernel import Usage
from ..problem.scenario import Scenario
from . import routes as R
from .jobs import Fate, Progress, Replan, error_line
from .probing import LinkProbes

REPLAN_WORKERS = 2  # two re-plans at once: a failure during another's re-plan need not wait for it


class Recovery(LinkProbes):
    """Re-planning the requests a failure touches (the engine's ``state``, ``alive``, ``cut``, ``opt``)."""

    state: dict
    ended: dict
    cut: set
    t0: float
    opt: Any
    cl: Any
    failures: list
    link_failures: list
    scheduled: dict
    known_dead: frozenset
    known_cut: frozenset
    _replans: concurrent.futures.ThreadPoolExecutor | None
    _solved: list

    if TYPE_CHECKING:  # the engine's
        def _end(self, key, status: str, reason: str | None, **extra) -> None: ...

        def _submit(self, key) -> None: ...

    def _failed(self, devs: set, links: set | frozenset = frozenset(), only: set | None = None) -> None:
        """Devices ``devs`` failed and/or ``links`` were found cut: every unfinished request (of ``only``)
        that still needs one of them resumes from the last activation a survivor holds, re-planned off
        the loop (an input already across a cut link goes on)."""
        now = time.time()
        self.detector.forget(devs)
        self.cut |= links
        self.known_dead, self.known_cut = self.known_dead | frozenset(devs), frozenset(self.cut)
        recs = [{"device": d, "at_s": self.scheduled.get(d), "detected_s": now - self.t0} for d in sorted(devs)]
        keys = [k for k in self.state if k not in self.ended and (only is None or k in only)]
        crossed = {k for k in keys if (f := self.state[k].inflight) is not None
                   and R.cut_between(f.src, f.device, links) and self._arrived(k)}
        resumes = []
        for k in keys:
            st = self.state[k]
            if st.started is None:
                continue  # not started: it is checked when it starts
            fate, q = self._resume(k, st, k in crossed)
            if fate is Fate.RESUMES and q is not None:
                resumes.append(q)
        what = ", ".join([f"device(s) {sorted(devs)} failed"] * bool(devs) +
                         [f"link(s) {', '.join('-'.join(map(str, sorted(c))) for c in sorted(links, key=sorted))} cut"]
                         * bool(links)) or "its route needs a device or link that failed"
        groups: dict = {}
        for q in resumes:
            groups.setdefault((id(self.state[q.request].job.sc), q.start, q.done_drops), []).append(q)
        for group in groups.values():
            self._dispatch(group, what)
        # when the last re-plan it caused is applied (at once when it caused none)
        took = {"requests": sorted(q.request for q in resumes), "replanned_s": None if resumes else now - self.t0}
        for f in recs:
            f.update(took)
        for f in self.link_failures:
            if R.link(*f["link"]) in links:
                f.update(took)
        self.failures += recs

    def _resume(self, key, st: Progress, crossed: bool = False) -> tuple[Fate, R.Resume | None]:
        """What the failure means for the request (``Fate``), and where it resumes when it does.
        ``crossed``: its in-flight input is across its link already (a cut of that link spares it)."""
        sc = st.job.sc
        names = sc.unit_names
        f = st.inflight
        runs_on = f is not None and f.device in self.alive and (crossed or not R.cut_between(f.src, f.device, self.cut))
        ahead = [s for segs, _ in st.ahead() for s in segs][1 if runs_on else 0:]
        last = runs_on and st.next_route is None and st.seg == len(st.route.segments) - 1
        if (not st.awaiting or last) and not any(self._blocked(s) for s in ahead) \
                and (runs_on or (f is None and st.history[-1][1] in self.alive)):
            st.awaiting = False  # its in-flight segment (holding its input) runs on, and what follows is fine
            return Fate.GOES_ON, None
        st.version += 1
        st.awaiting = True
        accuracy = sc.configs[st.job.route.config].accuracy if st.job.route.config is not None else \
            sc.configs[0].accuracy
        if runs_on and f is not None:
            stop = st.route.segments[st.seg].stop
            st.next_route = None
            return Fate.RESUMES, R.Resume(key, stop, f.device, frozenset(st.route.dropped & set(names[:stop])), accuracy)
        if f is not None:
            if f.device not in self.alive:
                st.lost.append({"device": f.device, "start": f.submitted - self.t0,
                                "end": self.scheduled.get(f.device, time.time() - self.t0)})
            else:  # its input is stuck on a cut link: its holder sends it elsewhere
                st.lost.append({"device": f.device, "start": f.submitted - self.t0, "end": time.time() - self.t0,
                                "link": sorted((f.src, f.device))})
        st.inflight, st.next_route = None, None  # lost with its device, or abandoned on its cut link
        while st.history and st.history[-1][1] not in self.alive:
            st.history.pop()
        if not st.history:
            src = st.job.route.source
            self._end(key, "unserved", f"its source, device {src}, failed before the image left it"
                      if src not in self.alive else
                      f"its activation was lost: device(s) {sorted(set(range(sc.n_devices)) - self.alive)} failed")
            return Fate.ENDED, None
        b, holder, _ = st.history[-1]
        return Fate.RESUMES, R.Resume(key, b, holder, frozenset(st.route.dropped & set(names[:b])), accuracy)

    def _used(self, sc: Scenario, resuming: set) -> Usage:
        """What the requests of scenario ``sc`` have used and will use, the resuming ones' executed part only."""
        used = R.usage(sc)
        for k, st in self.state.items():
            if st.job.sc is not sc:
                continue
            for seg, dropped in st.done:
                R.charge(used, sc, [seg], dropped)
            if k in self.ended or k in resuming:
                if k in resuming and st.inflight is not None:  # its in-flight segment runs on
                    R.charge(used, sc, [st.route.segments[st.seg]], st.route.dropped)
                continue
            for segs, dropped in st.ahead():
                R.charge(used, sc, segs, dropped)
        return used

    def _dispatch(self, group: list, what: str) -> None:
        """Solve the re-plan of ``group`` in the worker thread (``_apply_replans`` takes its answer)."""
        sc = self.state[group[0].request].job.sc
        used = self._used(sc, {k for k, st in self.state.items() if st.awaiting})
        task = Replan(sc, tuple(group), tuple(self.state[q.request].version for q in group), tuple(sorted(self.alive)),
                       frozenset(self.cut), used, what)
        if self._replans is None:
            # two re-plans at once: a failure during another's re-plan need not wait for it (HiGHS releases the GIL)
            self._replans = concurrent.futures.ThreadPoolExecutor(max_workers=REPLAN_WORKERS,
                                                                  thread_name_prefix="adaptres-replan")
        self._solved.append((task, self._replans.submit(self._solve, task)))

    def _solve(self, task: Replan):
        try:
            new, _ = R.replan(task.sc, task.resumes, list(task.alive), task.used, self.opt.method,
                              solvers.Options(time_limit=self.opt.time_limit), cut=task.cut)
            return new, None
        except ValueError as exc:  # e.g. nothing left to build a continuation from
            return {q.request: None for q in task.resumes}, " ".join(str(exc).split())
        except Exception as exc:  # noqa: BLE001 -- any solver (a registry) may fail: its requests fail, named
            return None, error_line(exc)

    def _apply_replans(self) -> None:
        done = [(t, f) for t, f in self._solved if f.done()]
        if not done:
            return
        self._solved = [(t, f) for t, f in self._solved if not f.done()]
        for task, fut in done:
            new, why = fut.result()
            self._apply(task, new, why)

    def _apply(self, task: Replan, new: dict | None, why: str | None) -> None:
        """A re-plan's answer: each request of the group still waiting for it takes its new route — or, when a
        device or link it needs failed meanwhile, is re-planned again; when the solver raised (``new`` None),
        each fails with its error."""
        when = time.time() - self.t0
        solved = {q.request for q in task.resumes}
        for f in self.failures + self.link_failures:
            if solved & set(f.get("requests", [])):
                f["replanned_s"] = max(f.get("replanned_s") or 0.0, when)
        again = []
        for q, version in zip(task.resumes, task.versions):
            st = self.state[q.request]
            if q.request in self.ended or st.version != version:
                continue  # ended meanwhile, or made stale by a newer failure (its own re-plan is on its way)
            st.awaiting, st.replanned = False, True
            if new is None:
                self._end(q.request, "failed", f"{task.what}; the re-plan ({self.opt.method}) raised {why}")
                continue
            rt = new.get(q.request)
            if rt is None:
                self._end(q.request, "unserved", f"{task.what}{f' ({why})' if why else ''}; the re-plan "
                          f"({self.opt.method}) found no feasible continuation on the {len(task.alive)} surviving devices")
                continue
            if any(self._blocked(s) for s in rt.segments) or rt.source not in self.alive:
                again.append(q.request)  # a device or link of its new route failed while it was solved
                st.route, st.seg = rt, 0
                continue
            if st.inflight:
                st.next_route = rt
            else:
                st.route, st.seg = rt, 0
        if again:
            self._failed(set(), set(), only=set(again))
        units = R.units_by_device(task.sc, [(new or {}).get(q.request) for q in task.resumes], task.sc.n_devices)
        for d, u in enumerate(units):
            if u and d in self.alive:
                self.cl.actors[d].load.remote(u, self.cl.slices, False)
        for q in task.resumes:
            st = self.state[q.request]
            if q.request not in self.ended and not st.awaiting and st.inflight is None and st.started is not None:
                if st.seg < len(st.route.segments):
                    self._submit(q.request)
