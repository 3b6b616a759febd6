"""The network side (torch): the block-wise ResNet (``model``), data (``data``), training recipes
(``recipe``, torch-free) and training (``train``), the per-unit cost measurement (``costs``), the
block-drop ablation (``ablation``) and throughput benchmarks (``bench``).

Nothing is imported here, so that ``adaptres.nn.recipe`` loads without torch."""
