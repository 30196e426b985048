"""Orphans after a crash: files no row names are swept after a grace period, spooled uploads
land in a private folder and are swept when stale, and a process killed between writing a
scan and committing its row leaves nothing the sweep does not remove."""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from agreements.models import Agreement, IssuedDocument, SignedScan
from institutions import files
from institutions.models import Membership
from tests import factories
from tests.conftest import small_pdf

HOUR = datetime.timedelta(hours=1)


def _age(path: Path, hours: float) -> None:
    when = time.time() - hours * 3600
    os.utime(path, (when, when))


def _private(name: str) -> Path:
    return Path(django_settings.MEDIA_ROOT) / "private" / name


@pytest.fixture
def upload_dir(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    files.ensure_upload_folder()
    return Path(settings.FILE_UPLOAD_TEMP_DIR)


@pytest.mark.django_db
def test_the_sweep_removes_old_orphans_and_keeps_named_and_young_files(settings, upload_dir):
    settings.ORPHAN_FILE_GRACE_HOURS = 24
    rutan = factories.institution()
    agreement = factories.agreement(rutan, factories.institution(kind="bnnk"))
    named = SignedScan.objects.create(
        agreement=agreement,
        file=ContentFile(b"%PDF-1.7 named", name="x.pdf"),
        original_name="x.pdf",
        size=14,
        sha256="0" * 64,
        pages=1,
    )
    old = files.private_files.save("signed-scans/1/old-orphan.pdf", ContentFile(b"old"))
    young = files.private_files.save("issued/young-orphan.pdf", ContentFile(b"young"))
    for name in (named.file.name, old):
        _age(_private(name), 30)
    _age(_private(young), 2)
    stale_upload = upload_dir / "tmpabc.upload.pdf"
    stale_upload.write_bytes(b"half of an upload")
    _age(stale_upload, 2)
    fresh_upload = upload_dir / "tmpdef.upload.pdf"
    fresh_upload.write_bytes(b"an upload being read now")

    out = io.StringIO()
    call_command("sweep_files", stdout=out)  # a dry run: lists, removes nothing
    assert f"Would remove orphan file: {old}" in out.getvalue()
    assert "Would remove stale upload: tmpabc.upload.pdf" in out.getvalue()
    assert f"Kept (younger than the grace period): {young}" in out.getvalue()
    assert _private(old).exists() and stale_upload.exists()

    out = io.StringIO()
    call_command("sweep_files", "--delete", stdout=out)
    assert "Removed 1 orphan file(s) and 1 stale upload(s); kept 1 younger" in out.getvalue()
    assert not _private(old).exists() and not stale_upload.exists()
    assert _private(named.file.name).exists() and _private(young).exists()
    assert fresh_upload.exists()

    # A day later the young orphan is old enough; the named file stays for ever.
    report = files.sweep(delete=True, now=timezone.now() + 24 * HOUR)
    assert report.orphans == [young]
    assert _private(named.file.name).exists()


def test_large_uploads_are_spooled_to_the_private_upload_folder(settings, upload_dir):
    from config import settings as configured  # the value before the fixture's override

    assert Path(configured.FILE_UPLOAD_TEMP_DIR).is_relative_to(configured.VAR_DIR)
    assert oct(upload_dir.stat().st_mode & 0o777) == oct(0o700)
    spooled = TemporaryUploadedFile("scan.pdf", "application/pdf", 10, None)
    try:
        assert Path(spooled.temporary_file_path()).parent == upload_dir
    finally:
        spooled.close()
    assert list(upload_dir.iterdir()) == []  # closed: removed


@pytest.mark.django_db
def test_a_large_upload_through_the_site_leaves_no_temporary_file(client, settings, upload_dir):
    batang = factories.institution(kind="bnnk")
    signed = factories.agreement(batang, factories.institution(), status=Agreement.Status.SIGNED)
    editor = factories.user("editor.besar", batang, (Membership.Role.EDITOR,))
    client.force_login(editor)
    large = small_pdf(1).replace(b"%%EOF", b"%" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF")
    assert len(large) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = client.post(
        reverse("agreements:scan_upload", args=[signed.pk]),
        {"file": SimpleUploadedFile("scan.pdf", large, content_type="application/pdf")},
    )
    assert response.status_code in (200, 302)
    assert list(upload_dir.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_between_the_file_and_its_row_leaves_only_what_the_sweep_removes(
    settings, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("the child process needs a database it can share (PostgreSQL)")
    batang = factories.institution(kind="bnnk")
    signed = factories.agreement(batang, factories.institution(), status=Agreement.Status.SIGNED)
    editor = factories.user("editor.mati", batang, (Membership.Role.EDITOR,))
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(small_pdf(2))
    # A child process uploads through the service and is killed (SIGKILL) as it inserts the
    # row: after the file was written, before anything was committed.
    script = textwrap.dedent(
        f"""
        import os, signal
        import django
        django.setup()
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.contrib.auth import get_user_model
        from agreements.models import Agreement, SignedScan
        from agreements.services import documents

        def killed(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        SignedScan.save = killed
        documents.scan_upload(
            agreement=Agreement.objects.get(pk={signed.pk}),
            user=get_user_model().objects.get(pk={editor.pk}),
            upload=SimpleUploadedFile("scan.pdf", open({str(pdf)!r}, "rb").read()),
        )
        """
    )
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    child = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert not SignedScan.objects.exists()
    # The official PDF, if the signing's task has issued it already, is not an orphan.
    issued = set(IssuedDocument.objects.filter(agreement=signed).values_list("file", flat=True))
    left = [name for name in files.walk(files.private_files) if name not in issued]
    assert len(left) == 1 and left[0].startswith(f"signed-scans/{signed.pk}/")

    assert files.sweep(delete=True).too_young == left  # within the grace period: kept
    report = files.sweep(delete=True, now=timezone.now() + 25 * HOUR)
    assert report.orphans == left
    assert set(files.walk(files.private_files)) == issued
