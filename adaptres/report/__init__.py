"""Reports on top of the experiments: figures (``plots``), an evaluation section end to end
(``evaluation.run_section``), notebook parameter checks (``notebook``) and the main job (``study``)."""
