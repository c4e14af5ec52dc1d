"""A toy capability that exists only in the tests: one model, one request kind, one job, one page.

It is plugged in by this manifest alone (tests/cross/test_toy_capability.py adds its package to
ENABLED), which proves that a capability needs no line in the core."""

from panel.capabilities.base import Manifest, Quota

MANIFEST = Manifest(
    name="toy",
    package=__name__,
    label="Toy",
    models="models",
    kinds="kinds",
    jobs="jobs",
    web="web:bp",
    quotas=(Quota("toys", "Toys", 2),),
)
