"""`backup_rotate`: a checksummed archive per run, the newest N kept, and a failed run that
leaves nothing behind and removes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from config.management.commands import backup_rotate
from tests import factories

pytestmark = pytest.mark.django_db


def test_each_run_writes_a_checked_archive_and_keeps_the_newest(tmp_path):
    factories.institution("Rumah Tahanan Negara Kelas IIA Cadangan")
    for _ in range(3):
        call_command("backup_rotate", str(tmp_path), "--keep", "2", verbosity=0)
    archives = backup_rotate.backups_in(tmp_path)
    assert len(archives) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [a.name for a in archives] + [f"{a.name}.sha256" for a in archives]
    )
    for archive in archives:
        line = (tmp_path / f"{archive.name}.sha256").read_text()
        assert line == f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n"
        with zipfile.ZipFile(archive) as opened:
            manifest = json.loads(opened.read("manifest.json"))
        assert "Rumah Tahanan Negara Kelas IIA Cadangan" in opened_data(archive)
        assert manifest["format"] == "pks-registry-export"
    if shutil.which("sha256sum"):  # the restore drill checks it this way
        check = subprocess.run(  # noqa: S603 - a fixed tool on our own files
            ["sha256sum", "-c", f"{archives[-1].name}.sha256"],  # noqa: S607
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def opened_data(archive) -> str:
    with zipfile.ZipFile(archive) as opened:
        return opened.read("data.json").decode()


def test_a_failed_export_leaves_nothing_and_removes_nothing(tmp_path, monkeypatch):
    call_command("backup_rotate", str(tmp_path), "--keep", "1", verbosity=0)
    before = sorted(tmp_path.iterdir())

    def failing_export(name, path, **options):
        with Path(path).open("wb") as partial:
            partial.write(b"PK half an archive")
        raise CommandError("A file named by the database cannot be read.")

    monkeypatch.setattr(backup_rotate, "call_command", failing_export)
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("backup_rotate", str(tmp_path), "--keep", "1", verbosity=0)
    assert sorted(tmp_path.iterdir()) == before


def test_a_damaged_new_archive_is_refused(tmp_path, monkeypatch):
    def damaged_export(name, path, **options):
        with Path(path).open("wb") as partial:
            partial.write(b"not a zip at all")

    monkeypatch.setattr(backup_rotate, "call_command", damaged_export)
    with pytest.raises(CommandError, match="not readable"):
        call_command("backup_rotate", str(tmp_path), verbosity=0)
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_missing_folder_and_a_keep_below_one(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("backup_rotate", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="at least 1"):
        call_command("backup_rotate", str(tmp_path), "--keep", "0")
