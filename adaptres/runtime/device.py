"""One device of the runtime: a Ray actor holding only the weights of the units placed on it.

The actor builds the block-wise ResNet on torch's ``meta`` device (shapes, no memory) and
materialises the modules of its units only (a block whose direct connection every request drops:
its shortcut only), from the state-dict slices the coordinator put in Ray's object store. It reports
the bytes it holds against the scenario's weight figures.

``hop`` is one segment of a request: receive the activation from the device that holds it (an
object reference; on one host it is paced to the modelled transfer time (Eqs 10-11), transfers on the
same directed link one after another), then run the units with the request's drops, one request at a time (a FIFO
queue), waiting out the rest of the time the scenario's device would take (Eq 9) when the host is
faster. Both emulations can be switched off on real devices. Every time is recorded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import torch

from ..nn.model import AdaptiveResNet

ARRIVED = 10_000  # segments remembered as arrived (a link's failure asks about the ones in flight)


def unit_modules(model: AdaptiveResNet, name: str, whole: bool) -> list[str]:
    """The submodules (state-dict prefixes) unit ``name`` runs: a block whose direct connection is
    dropped (``whole`` False) runs its shortcut only (nothing for an identity block)."""
    if name == "stem":
        return ["conv1", "bn1"]
    if name == "head":
        return ["fc"]
    if whole:
        return [name]
    return [f"{name}.downsample"] if model.block(name).downsample is not None else []


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and floating-point buffers (as the cost table counts weights)."""
    params = sum(p.numel() * p.element_size() for p in module.parameters(recurse=False))
    bufs = sum(b.numel() * b.element_size() for b in module.buffers(recurse=False) if b.is_floating_point())
    return params + bufs


class DeviceActor:
    """A device (use through ``ray.remote``; see the module's docstring)."""

    def __init__(self, index: int, arch: str, num_classes: int, stem: str, threads: int = 1):
        torch.set_num_threads(threads)
        self.index, self.pid = index, os.getpid()
        with torch.device("meta"):
            self.model = AdaptiveResNet(arch, num_classes=num_classes, stem=stem).eval()
        self.loaded: dict[str, bool] = {}  # unit -> whole (else its shortcut only)
        self.compute_lock = asyncio.Lock()
        self.links: dict[int, asyncio.Lock] = {}
        self.loading = asyncio.Lock()
        self.arrived: dict = {}  # the tags of the last ``ARRIVED`` segments whose input reached this device

    async def ping(self) -> int:
        return self.pid

    async def node(self) -> str:
        """The Ray node this device runs on (its id)."""
        import ray
        return ray.get_runtime_context().get_node_id()

    async def hold(self, x):
        """Keep ``x`` here (a request's image captured by this device: it starts its journey here); a
        reference to it in this device's store."""
        import ray
        return ray.put(x)

    async def reach(self, host: str, port: int, timeout: float = 0.3) -> bool | None:
        """Can this device reach ``host:port`` (another device's node)? True: it answered (or refused);
        False: the network says there is no way there (a link cut by a blackhole route fails at once);
        None: no answer within ``timeout`` (a congested link looks the same: not a verdict)."""
        def connect():
            try:
                socket.create_connection((host, port), timeout=timeout).close()
                return True
            except ConnectionRefusedError:
                return True
            except TimeoutError:
                return None
            except OSError:
                return False
        return await asyncio.to_thread(connect)

    async def has_arrived(self, tag: str) -> bool:
        """Has the input of the segment tagged ``tag`` reached this device?"""
        return tag in self.arrived

    async def crash_at(self, at: float) -> None:
        """End this process abruptly at time ``at`` (a device failing: power, crash, OOM)."""
        await asyncio.sleep(max(0.0, at - time.time()))
        os._exit(1)

    async def load(self, units: dict, slices, replace: bool = True) -> dict:
        """Hold the weights of ``units`` (name -> whole) only (with ``replace`` False: as well), from
        ``slices``: prefix -> a reference to its state-dict slice in Ray's object store, or the path of
        the weights file on this device (memory-mapped: a board holds its model file; on the network
        test bed no weight crosses a device link). Returns the bytes held per unit and the process's
        resident set. A segment waits for a load submitted before it."""
        async with self.loading:
            if replace:
                with torch.device("meta"):
                    self.model = AdaptiveResNet(self.model.arch, num_classes=self.model.fc.out_features,
                                                stem=self.model.stem).eval()
                self.loaded = {}
            held = {}
            for name, whole in units.items():
                if self.loaded.get(name) is True or (self.loaded.get(name) is False and not whole):
                    continue
                held[name] = 0
                for prefix in unit_modules(self.model, name, whole):
                    module = self.model.get_submodule(prefix)
                    if next(module.parameters()).is_meta:
                        state = self._slice(slices, prefix) if isinstance(slices, str) else await slices[prefix]
                        module.to_empty(device="cpu")
                        module.load_state_dict(state)
                    held[name] += sum(tensor_bytes(m) for m in module.modules())
                self.loaded[name] = whole or self.loaded.get(name, False)
        return {"weights": held, "rss_bytes": _rss()}

    def _slice(self, path: str, prefix: str) -> dict:
        if getattr(self, "_file", None) != path:
            self._state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            self._file = path
        return {k[len(prefix) + 1:]: v.float() if v.is_floating_point() else v
                for k, v in self._state.items() if k.startswith(prefix + ".")}

    async def hop(self, x, job: dict):
        """Run one segment (``job``: request, start, stop, dropped, src, the modelled ``transfer_s`` and
        ``compute_s``, emulate_links, emulate_compute); returns (the activation, the record of times).

        ``x`` is the activation itself, or (real links) a reference to it in the store of the device
        that computed it: awaiting it here is the transfer, timed here. The activation returned is then
        a reference too, put in this device's store (so it travels from here, over the link, to the
        next device), and its input is marked arrived (``has_arrived``)."""
        import ray
        rec = {"request": job["request"], "device": self.index, "start": job["start"], "stop": job["stop"],
               "src": job["src"], "arrive": time.time(), "bytes": 0, "link_wait_s": 0.0, "transfer_s": 0.0,
               "transfer_model_s": job["transfer_s"], "bytes_model": job.get("in_bytes", 0.0),
               "rate_mbps": job.get("rate_mbps")}
        nested = isinstance(x, ray.ObjectRef)
        if nested:
            t = time.time()
            x = await x
            rec["transfer_s"] = time.time() - t
        self.arrived[job.get("tag")] = None
        if len(self.arrived) > ARRIVED:
            del self.arrived[next(iter(self.arrived))]
        if job["src"] != self.index:
            rec["bytes"] = x.numel() * x.element_size()
        if job["src"] != self.index and job["emulate_links"]:
            lock = self.links.setdefault(job["src"], asyncio.Lock())
            async with lock:  # transfers on one directed link go one after another
                t = time.time()
                rec["link_wait_s"] = t - rec["arrive"]
                await asyncio.sleep(job["transfer_s"])
                rec["transfer_s"] = time.time() - t
        t = time.time()
        async with self.loading:  # a load submitted before this segment comes first (after a re-plan)
            pass
        rec["load_wait_s"] = time.time() - t
        t = time.time()
        async with self.compute_lock:  # one segment at a time on a device
            c0 = time.time()
            y = await asyncio.to_thread(self._run, x, job)
            host = time.time() - c0
            target = job["compute_s"]
            if job["emulate_compute"] and host < target:
                await asyncio.sleep(target - (time.time() - c0))
            rec.update(queue_wait_s=c0 - t, host_compute_s=host, compute_s=time.time() - c0, end=time.time(),
                       overrun_s=max(0.0, host - target))
        if nested and y.untyped_storage().nbytes() > y.numel() * y.element_size():
            y = y.clone()  # a view: only its own bytes travel on
        return (ray.put(y) if nested else y), rec

    def _run(self, x, job):
        missing = [n for n in self.model.unit_names[job["start"]:job["stop"]]
                   if n not in self.loaded or (self.loaded[n] is False and n not in job["dropped"])]
        if missing:
            raise RuntimeError(f"device {self.index}: unit {missing[0]} is not loaded here")
        with torch.inference_mode():
            for j in range(job["start"], job["stop"]):
                x = self.model.run_units(x, j, j + 1, drop_dc=job["dropped"])
                if not torch.isfinite(x).all():
                    raise FloatingPointError(f"non-finite values (NaN or inf) in the output of unit "
                                             f"{self.model.unit_names[j]}: its weights or its input are not finite")
        return x


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
