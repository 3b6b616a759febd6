"""Named settings for the whole study: ``fast`` (tests), ``cpu`` (the default main job), ``paper`` (GPU).

A profile fixes the training recipe, the ablation and the optimisation/simulation sizes. Notebooks
take a profile name in their ``parameters`` cell and read everything else from here.
"""

from __future__ import annotations

from .train import Recipe

PROFILES: dict[str, dict] = {
    # seconds: a tiny ResNet-50 run on a few hundred images, for the tests and a quick look
    "fast": {
        "recipe": Recipe(dataset="fashion-mnist", arch="resnet50", stem="imagenet", image_size=32, epochs=2,
                         batch_size=64, lr=0.01, warmup_epochs=0.5, label_smoothing=0.1,
                         train_limit=512, test_limit=256, seed=0),
        "ablation_batch_size": 128,
    },
    # the default main job on a 2-core CPU: the whole of Fashion-MNIST, ResNet-50 at 32 px
    "cpu": {
        "recipe": Recipe(dataset="fashion-mnist", arch="resnet50", stem="imagenet", image_size=32, epochs=2,
                         batch_size=64, lr=0.05, warmup_epochs=0.2, label_smoothing=0.1, seed=0),
        "ablation_batch_size": 500,
    },
    # the paper's recipe (§III): CIFAR-10 at 224 px, ImageNet weights, SGD lr 0.01, batch 512, 30 epochs
    "paper": {
        "recipe": Recipe(dataset="cifar10", arch="resnet50", stem="imagenet", image_size=224, epochs=30,
                         batch_size=512, lr=0.01, momentum=0.9, weight_decay=0.0, schedule="constant",
                         weights="IMAGENET1K_V2", seed=0),
        "ablation_batch_size": 500,
    },
}


def get(name: str) -> dict:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile: unknown profile {name!r} (expected one of {', '.join(PROFILES)})") from None
