import pytest


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test writes files to its own temporary media root."""
    settings.MEDIA_ROOT = tmp_path / "media"
