"""Background work of the rehabilitation app: the nightly rebuild of the public counts.

The services keep `ProgrammeTally` up to date with every enrolment move; the rebuild corrects
what bypassed them (a bulk load, a restore) and is idempotent (config.tasks.JOBS runs it).
"""

from __future__ import annotations

from config.tasks import retried

from . import statistics


@retried()
def refresh_statistics() -> dict[str, int]:
    """Rebuild every programme's public counts from the enrolments."""
    return {"programmes": statistics.refresh()}
