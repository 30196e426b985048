"""Background work of the institutions app: the daily sweep of files no row names."""

from __future__ import annotations

from config.tasks import retried

from . import files


@retried()
def sweep_files() -> dict[str, int]:
    """Remove the private store's files that no row names, after the grace period
    (ORPHAN_FILE_GRACE_HOURS), and uploads spooled by requests that died."""
    report = files.sweep(delete=True)
    return {"orphans": len(report.orphans), "stale_uploads": len(report.stale_uploads)}
