from __future__ import annotations

from hypothesis import HealthCheck, settings

# CI machines have 2 cores shared with other work: a slow example is not a bug,
# so no per-example deadline (speed is measured in benchmarks/, never asserted).
settings.register_profile(
    "coinval", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("coinval")
