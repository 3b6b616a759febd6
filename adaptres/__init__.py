"""adaptres: adaptive ResNet for distributed inference on resource-constrained IoT devices."""

__version__ = "0.1.0"
