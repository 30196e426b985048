"""`export_data` and `restore_data`: the round trip loses nothing, and bad restores keep nothing."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db.models.fields.files import FieldFile

from agreements.models import Agreement, SignedScan
from config.demo import DEMO_PASSWORD, seed_demo
from institutions.management.commands import restore_data
from institutions.models import Institution
from tests import factories

User = get_user_model()
BY_NATURAL_KEY = (ContentType, Permission)


def _natural(obj):
    return None if obj is None else list(obj.natural_key())


def _row(obj) -> dict:
    """Every field value of a row; content types and permissions (whose keys `migrate` picks)
    by natural key."""
    values = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key and isinstance(obj, BY_NATURAL_KEY):
            continue
        if field.is_relation and field.related_model in BY_NATURAL_KEY:
            values[field.name] = _natural(getattr(obj, field.name))
            continue
        value = field.value_from_object(obj)
        values[field.attname] = value.name if isinstance(value, FieldFile) else value
    for field in obj._meta.many_to_many:
        related = getattr(obj, field.name).all()
        if field.related_model in BY_NATURAL_KEY:
            values[field.name] = sorted(_natural(item) for item in related)
        else:
            values[field.name] = sorted(item.pk for item in related)
    return values


def snapshot() -> dict[str, list[dict]]:
    """Every row of every model but sessions, in a comparable form."""
    found = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.label_lower == "sessions.session" or meta.proxy or not meta.managed:
            continue
        found[meta.label] = sorted((_row(obj) for obj in model._base_manager.all()), key=repr)
    return found


def private_files() -> dict[str, bytes]:
    root = Path(settings.MEDIA_ROOT) / "private"
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def rich_dataset(settings) -> None:
    """The demo scenario with accounts, plus what it lacks: scans, a group with permissions,
    an account's own permissions, an admin log entry."""
    settings.DEBUG = True
    seed_demo(with_accounts=True)
    agreement = Agreement.objects.order_by("pk").first()
    admin = User.objects.get(username="admin")
    for n in (1, 2):
        content = f"%PDF-1.7\nscan {n} of the signed agreement\n%%EOF\n".encode()
        SignedScan.objects.create(
            agreement=agreement,
            file=ContentFile(content, name="upload.pdf"),
            original_name=f"PKS ditandatangani ({n}).pdf",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            pages=1,
            uploaded_by=admin,
        )
    group = Group.objects.create(name="Operator PKS")
    group.permissions.set(
        Permission.objects.filter(codename__in=["view_agreement", "change_agreement"])
    )
    staff = User.objects.get(username="staf.batang")
    staff.groups.add(group)
    staff.user_permissions.add(Permission.objects.get(codename="view_participant"))
    LogEntry.objects.create(
        user=admin,
        content_type=ContentType.objects.get_for_model(Agreement),
        object_id=str(agreement.pk),
        object_repr=str(agreement)[:200],
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Title"]}}]',
    )


def tamper(source: Path, target: Path) -> None:
    """A copy of the archive with one byte of one stored scan changed, manifest untouched."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        changed = False
        for info in original.infolist():
            content = original.read(info)
            if info.filename.startswith("files/") and b"scan" in content and not changed:
                content = content.replace(b"scan", b"scam", 1)
                changed = True
            copy.writestr(info, content)
    assert changed


def nothing_restored() -> bool:
    return (
        not User.objects.exists()
        and not Institution.objects.exists()
        and not Agreement.objects.exists()
        and not Group.objects.exists()
        and private_files() == {}
    )


@pytest.mark.django_db(transaction=True)
def test_round_trip_loses_nothing_and_bad_restores_keep_nothing(settings, tmp_path, monkeypatch):
    rich_dataset(settings)
    before = snapshot()
    files_before = private_files()
    assert len(files_before) == 3  # two scans and the issued document of the demo
    assert all(before[label] for label in ["auth.User", "rehabilitation.Enrolment"])

    archive = tmp_path / "backup.zip"
    out = io.StringIO()
    call_command("export_data", str(archive), stdout=out)
    assert "3 file(s)" in out.getvalue()
    assert archive.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
    assert manifest["format_version"] == 2
    assert manifest["counts"] == {label: len(rows) for label, rows in before.items()}
    assert {entry["path"]: entry["sha256"] for entry in manifest["files"]} == {
        name: hashlib.sha256(content).hexdigest() for name, content in files_before.items()
    }
    assert "sessions.Session" not in manifest["counts"]
    tampered = tmp_path / "tampered.zip"
    tamper(archive, tampered)

    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "private")
    assert nothing_restored()

    with pytest.raises(CommandError, match="does not match its checksum"):
        call_command("restore_data", str(tampered))
    assert nothing_restored()

    # A failure while writing the second file: the first one is removed, no row is kept.
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    real_write = restore_data.write_file
    monkeypatch.setattr(restore_data, "write_file", failing_write)
    with pytest.raises(OSError, match="disk full"):
        call_command("restore_data", str(archive))
    assert len(calls) == 2
    assert nothing_restored()
    monkeypatch.undo()

    # Content types and permissions get other keys in another database: restored rows must
    # point to them by natural key, not by the old numbers.
    ContentType.objects.get_for_model(Agreement).delete()  # its permissions go with it
    ContentType.objects.clear_cache()
    ContentType.objects.create(app_label="agreements", model="agreement")

    out = io.StringIO()
    call_command("restore_data", str(archive), stdout=out)
    assert "Restored" in out.getvalue()
    assert snapshot() == before
    assert private_files() == files_before
    assert User.objects.get(username="admin").check_password(DEMO_PASSWORD)
    scan = SignedScan.objects.order_by("pk").first()
    with scan.file.open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == scan.sha256
    # New rows get new keys after the restored ones (sequences moved on).
    assert factories.institution().pk > max(row["id"] for row in before["institutions.Institution"])

    with pytest.raises(CommandError, match="database is not empty"):
        call_command("restore_data", str(archive))


def _rewrite(source: Path, target: Path, *, manifest_change=None, extra: dict | None = None):
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            content = original.read(info)
            if info.filename == "manifest.json" and manifest_change:
                manifest = json.loads(content)
                manifest_change(manifest)
                content = json.dumps(manifest).encode()
            copy.writestr(info, content)
        for name, content in (extra or {}).items():
            copy.writestr(name, content)


@pytest.mark.django_db
def test_restore_refuses_unsafe_or_unlisted_entries_and_other_formats(tmp_path):
    factories.user("seorang")
    archive = tmp_path / "small.zip"
    call_command("export_data", str(archive), stdout=io.StringIO())
    evil = b"owned"
    entry = {"path": "../../evil.txt", "size": 5, "sha256": hashlib.sha256(evil).hexdigest()}
    cases = [
        ({"manifest_change": lambda m: m["files"].append(entry)}, "Unsafe file name"),
        ({"extra": {"files/unlisted.pdf": b"x"}}, "does not list"),
        ({"manifest_change": lambda m: m.update(format_version=99)}, "not supported"),
        (
            {"manifest_change": lambda m: m["migrations"].update(agreements=["0001_initial"])},
            "other migrations applied",
        ),
        (
            {"manifest_change": lambda m: m["data"].update(sha256="0" * 64)},
            "data.json does not match its checksum",
        ),
    ]
    for n, (change, message) in enumerate(cases):
        bad = tmp_path / f"bad{n}.zip"
        _rewrite(archive, bad, **change)
        with pytest.raises(CommandError, match=message):
            call_command("restore_data", str(bad))
    assert not (tmp_path / "evil.txt").exists()
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(CommandError, match="not a zip archive"):
        call_command("restore_data", str(not_zip))


@pytest.mark.django_db
def test_export_does_not_overwrite_a_file(tmp_path):
    existing = tmp_path / "backup.zip"
    existing.write_bytes(b"an older backup")
    with pytest.raises(CommandError, match="already exists"):
        call_command("export_data", str(existing))
    assert existing.read_bytes() == b"an older backup"
    assert list(tmp_path.iterdir()) == [existing]


# --- Every file the database names, whatever holds it; retried restores -------------------


def _logo_institution() -> Institution:
    from tests.institutions.test_logo import image_bytes

    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Berlogo")
    rutan.logo = SimpleUploadedFile("logo.png", image_bytes("PNG"))
    rutan.full_clean()
    rutan.save()
    return rutan


@pytest.mark.django_db(transaction=True)
def test_logos_are_in_the_backup_and_come_back(tmp_path):
    rutan = _logo_institution()
    logo = rutan.logo.read()
    archive = tmp_path / "backup.zip"
    call_command("export_data", str(archive), stdout=io.StringIO())
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        assert opened.read(f"files/{rutan.logo.name}") == logo
    assert manifest["files"][0]["fields"] == ["institutions.Institution.logo"]

    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "private")
    call_command("restore_data", str(archive), stdout=io.StringIO())
    restored = Institution.objects.get(pk=rutan.pk)
    with restored.logo.open("rb") as handle:
        assert handle.read() == logo


@pytest.mark.django_db
def test_a_named_file_that_cannot_be_read_makes_the_backup_fail(tmp_path):
    rutan = _logo_institution()
    (Path(settings.MEDIA_ROOT) / "private" / rutan.logo.name).unlink()
    backups = tmp_path / "backups"
    backups.mkdir()
    with pytest.raises(CommandError) as failed:
        call_command("export_data", str(backups / "backup.zip"), stdout=io.StringIO())
    message = str(failed.value)
    assert "cannot be read" in message
    assert f"institutions.Institution.logo: {rutan.logo.name}" in message
    assert list(backups.iterdir()) == []  # no archive, no partial file


@pytest.mark.django_db
def test_only_named_files_are_exported_not_orphans(tmp_path):
    rutan = _logo_institution()
    orphan = Path(settings.MEDIA_ROOT) / "private" / "signed-scans" / "9" / "orphan.pdf"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"%PDF-1.7 left by a crash")
    archive = tmp_path / "backup.zip"
    call_command("export_data", str(archive), stdout=io.StringIO())
    with zipfile.ZipFile(archive) as opened:
        assert [n for n in opened.namelist() if n.startswith("files/")] == [
            f"files/{rutan.logo.name}"
        ]


@pytest.mark.django_db(transaction=True)
def test_a_restore_killed_mid_file_can_be_retried(tmp_path):
    rutan = _logo_institution()
    scan_owner = factories.user("pengunggah")
    agreement = factories.agreement(rutan, factories.institution(kind="bnnk"))
    content = b"%PDF-1.7\nscan\n%%EOF\n"
    scan = SignedScan.objects.create(
        agreement=agreement,
        file=ContentFile(content, name="upload.pdf"),
        original_name="scan.pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        pages=1,
        uploaded_by=scan_owner,
    )
    archive = tmp_path / "backup.zip"
    call_command("export_data", str(archive), stdout=io.StringIO())
    files_before = private_files()
    call_command("flush", interactive=False, verbosity=0)
    root = Path(settings.MEDIA_ROOT) / "private"
    # What a restore killed while writing the scan left: the logo complete (rows rolled back
    # with the killed connection), the scan half written under the temporary names of this
    # version and of the earlier one.
    scan_path = root / scan.file.name
    scan_path.unlink()
    (scan_path.parent / f".{scan_path.name}.part").write_bytes(content[:5])
    (scan_path.parent / ".restore-abc123.part").write_bytes(content[:7])

    call_command("restore_data", str(archive), stdout=io.StringIO())
    assert SignedScan.objects.get().file.read() == content
    assert not (scan_path.parent / f".{scan_path.name}.part").exists()
    # The other temporary file names no row: the sweep removes it after its grace period.
    assert set(private_files()) == set(files_before) | {
        f"{Path(scan.file.name).parent.as_posix()}/.restore-abc123.part"
    }
