"""The runtime: plans executed for real on Ray, one actor per device (``device``, torch), driven by a
coordinator that detects failed devices and re-plans the unfinished requests on the survivors
(``coordinator``), along routes cut from the plan (``routes``, no torch). ``trials`` runs the
experiments of notebook 08; ``profile`` measures per-unit latencies on the host."""
