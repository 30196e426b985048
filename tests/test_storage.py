"""Files in an S3-compatible object store: a real one (moto's standalone server, on a free port,
started by the tests), reached over HTTP by django-storages and boto3, as in production."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from types import SimpleNamespace

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from moto.server import ThreadedMotoServer
from pypdf import PdfReader

from agreements.models import Agreement, IssuedDocument, SignedScan
from agreements.services import documents, issuing
from config.storage import private_storage_setting
from institutions.files import S3PrivateStorage, StorageUnavailable, private_files
from institutions.models import Institution, Membership
from tests import factories
from tests.conftest import small_pdf
from tests.institutions.test_logo import image_bytes

Role = Membership.Role
KEYS = {"access_key": "testing-key", "secret_key": "testing-secret"}


@pytest.fixture
def s3(settings):
    """A fresh bucket on a moto server of this test's own; STORAGES pointed at it (under a
    prefix, as a shared bucket would be)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"pks-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS["access_key"],
        aws_secret_access_key=KEYS["secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    entry = private_storage_setting(
        f"s3://{bucket}/registry?endpoint_url={endpoint}&region_name=us-east-1"
        "&addressing_style=path",
        timeout_seconds=2,
        **KEYS,
    )
    settings.STORAGES = {**settings.STORAGES, "default": entry, "private": entry}
    state = SimpleNamespace(client=client, bucket=bucket, server=server, running=True)

    def stop():
        if state.running:
            server.stop()
            state.running = False

    state.stop = stop
    yield state
    stop()


def keys(s3) -> list[str]:
    listed = s3.client.list_objects_v2(Bucket=s3.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def body(s3, key: str) -> bytes:
    return s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()


@pytest.fixture
def world(db):
    batang = factories.institution("BNNK Batang Uji", kind="bnnk")
    pekalongan = factories.institution("Rutan Pekalongan Uji")
    signed = factories.agreement(batang, pekalongan, status=Agreement.Status.SIGNED)
    return SimpleNamespace(
        batang=batang,
        pekalongan=pekalongan,
        signed=signed,
        editor=factories.user("editor.s3", batang, (Role.EDITOR,)),
    )


def _english_client(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- The setting ------------------------------------------------------------------------


def test_storage_url_chooses_the_backend():
    assert private_storage_setting("") == {"BACKEND": "institutions.files.LocalPrivateStorage"}
    assert private_storage_setting("file://")["BACKEND"].endswith("LocalPrivateStorage")
    entry = private_storage_setting(
        "s3://bucket/some/prefix/?endpoint_url=https://s3.example.go.id&region_name=id-1",
        signed_url_seconds=30,
        **KEYS,
    )
    assert entry["BACKEND"] == "institutions.files.S3PrivateStorage"
    assert entry["OPTIONS"] == {
        "bucket_name": "bucket",
        "location": "some/prefix",
        "endpoint_url": "https://s3.example.go.id",
        "region_name": "id-1",
        "querystring_expire": 30,
        "timeout_seconds": 10,
        **KEYS,
    }


@pytest.mark.parametrize(
    ("url", "keys"),
    [
        ("http://bucket/prefix", {}),
        ("s3://key:secret@bucket", {}),
        ("s3://", {}),
        ("s3://bucket?acl=public-read", {}),
        ("s3://bucket?addressing_style=sideways", {}),
        ("s3://bucket", {"access_key": "only-one"}),
    ],
)
def test_a_malformed_storage_url_stops_start_up(url, keys):
    with pytest.raises(ImproperlyConfigured, match=r"STORAGE_URL|S3_ACCESS_KEY_ID"):
        private_storage_setting(url, **keys)


def test_the_object_store_is_never_public():
    storage = S3PrivateStorage(bucket_name="b", endpoint_url="http://127.0.0.1:9", **KEYS)
    assert storage.default_acl == "private"
    assert storage.querystring_auth is True
    assert storage.file_overwrite is False


# --- Scans, issued PDFs and logos in the bucket -------------------------------------------


def test_a_scan_is_uploaded_to_the_bucket_and_downloaded_through_the_view(
    s3, world, client, settings
):
    assert isinstance(private_files, S3PrivateStorage)
    client = _english_client(client, settings)
    client.force_login(world.editor)
    data = small_pdf(3)
    response = client.post(
        reverse("agreements:scan_upload", args=[world.signed.pk]),
        {"file": SimpleUploadedFile("scan.pdf", data, content_type="application/pdf")},
    )
    assert response.status_code == 302
    scan = SignedScan.objects.get()
    assert scan.pages == 3
    key = f"registry/{scan.file.name}"
    assert keys(s3) == [key]
    assert body(s3, key) == data
    # Private: the owner's grant only, nobody else's (no AllUsers / AuthenticatedUsers).
    grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all("URI" not in grant["Grantee"] for grant in grants)

    download = client.get(reverse("agreements:scan_download", args=[scan.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data
    assert download["Cache-Control"] == "private, no-store"
    # The public copy of the current scan streams from the bucket too; no redirect anywhere.
    public = client.get(reverse("public:agreement_scan", args=[world.signed.pk]))
    assert public.status_code == 200 and b"".join(public.streaming_content) == data


def test_a_pdf_is_issued_into_the_bucket_with_the_logo_read_from_it(s3, world):
    world.batang.logo = SimpleUploadedFile("logo.png", image_bytes("PNG"))
    world.batang.full_clean()
    world.batang.save()
    assert f"registry/{world.batang.logo.name}" in keys(s3)

    document = issuing.issue_document(agreement=world.signed)
    key = f"registry/{document.file.name}"
    assert key in keys(s3)
    stored = body(s3, key)
    assert hashlib.sha256(stored).hexdigest() == document.sha256
    assert issuing.read_issued(document) == stored
    assert len(PdfReader(io.BytesIO(stored)).pages[0].images) == 1


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_into_the_object_store(s3, settings, tmp_path):
    batang = factories.institution("BNNK Batang Cadangan", kind="bnnk")
    batang.logo = SimpleUploadedFile("logo.png", image_bytes("PNG"))
    batang.save()
    signed = factories.agreement(batang, factories.institution(), status=Agreement.Status.SIGNED)
    editor = factories.user("editor.cadangan", batang, (Role.EDITOR,))
    documents.scan_upload(
        agreement=signed,
        user=editor,
        upload=SimpleUploadedFile("scan.pdf", small_pdf(2), content_type="application/pdf"),
    )
    issuing.issue_document(agreement=signed)
    before = {key: body(s3, key) for key in keys(s3)}
    assert len(before) == 3  # logo, scan, issued PDF

    archive = tmp_path / "backup.zip"
    out = io.StringIO()
    call_command("export_data", str(archive), stdout=out)
    assert "3 file(s)" in out.getvalue()
    with zipfile.ZipFile(archive) as opened:
        assert sorted(n for n in opened.namelist() if n.startswith("files/")) == sorted(
            "files/" + key.removeprefix("registry/") for key in before
        )

    # A new, empty bucket and database: the restore writes the files into the object store.
    s3.client.delete_objects(Bucket=s3.bucket, Delete={"Objects": [{"Key": key} for key in before]})
    call_command("flush", interactive=False, verbosity=0)
    call_command("restore_data", str(archive), stdout=io.StringIO())
    assert {key: body(s3, key) for key in keys(s3)} == before
    restored = Institution.objects.get(name="BNNK Batang Cadangan")
    assert (
        issuing.read_issued(IssuedDocument.objects.get())
        == before[f"registry/{IssuedDocument.objects.get().file.name}"]
    )
    assert restored.logo.name and f"registry/{restored.logo.name}" in before


# --- A store that is down -------------------------------------------------------------------


def test_readiness_says_when_the_store_is_down(s3, client, db):
    assert client.get("/readyz").json()["storage"] == "ok"
    s3.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["storage"] == "unwritable"
    assert "storage" in response.json()["down"]


def test_a_store_that_is_down_loses_no_write_and_says_so(s3, world, client, settings):
    client = _english_client(client, settings)
    client.force_login(world.editor)
    kept = documents.scan_upload(
        agreement=world.signed,
        user=world.editor,
        upload=SimpleUploadedFile("first.pdf", small_pdf(1), content_type="application/pdf"),
    )
    version = Agreement.objects.get(pk=world.signed.pk).version
    s3.stop()

    response = client.post(
        reverse("agreements:scan_upload", args=[world.signed.pk]),
        {"file": SimpleUploadedFile("scan.pdf", small_pdf(2), content_type="application/pdf")},
    )
    assert response.status_code == 200
    with translation.override("en"):
        assert "the file store is temporarily unavailable" in response.content.decode()
    assert list(SignedScan.objects.all()) == [kept]
    assert Agreement.objects.get(pk=world.signed.pk).version == version

    download = client.get(reverse("agreements:scan_download", args=[kept.pk]))
    assert download.status_code == 503
    assert download["Retry-After"]
    assert b"Traceback" not in download.content

    # Issuing while the store is down issues nothing (no row, no logo-less document for ever).
    world.batang.logo.name = "logos/somewhere.png"
    world.batang.save()
    with pytest.raises(StorageUnavailable):
        issuing.issue_document(agreement=world.signed)
    assert not IssuedDocument.objects.exists()
