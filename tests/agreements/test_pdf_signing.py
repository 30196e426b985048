"""The optional PAdES signature of issued documents, with a throwaway certificate made here:
pyHanko's own validator accepts it against that root, the stamp's font is embedded, and
without configuration (or with a broken one) nothing is signed or stored."""

from __future__ import annotations

import datetime
import io
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError

from agreements.document import signing
from agreements.models import Agreement, IssuedDocument
from agreements.services import issuing
from tests import factories
from tests.agreements.test_pdf import all_fonts, font_is_embedded, required_tool

pytestmark = pytest.mark.django_db

PASSWORD = "kata-sandi-uji"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Registri PKS Uji"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def make_pki(tmp_path: Path, root_name: str = "Root CA Uji") -> tuple[Path, x509.Certificate]:
    """A root CA and a signing certificate it issued, in a PKCS#12 file with PASSWORD."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name(root_name))
        .issuer_name(_name(root_name))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(signing=False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Penerbit Dokumen PKS"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signing=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        b"penerbit", key, leaf, [root], serialization.BestAvailableEncryption(PASSWORD.encode())
    )
    path = tmp_path / f"{root_name.replace(' ', '-')}.p12"
    path.write_bytes(bundle)
    return path, root


def trust(root: x509.Certificate) -> ValidationContext:
    """pyHanko's validation context trusting `root` alone, offline (tests never reach the
    network; the throwaway certificates have no revocation information)."""
    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _streams(form: pikepdf.Stream):
    """The content of a form XObject and of every form it draws, recursively."""
    yield form.read_bytes()
    for child in form.get("/Resources", {}).get("/XObject", {}).values():
        if child.get("/Subtype") == "/Form":
            yield from _streams(child)


def actual_texts(content: bytes) -> list[str]:
    """The /ActualText strings of a content stream, octal escapes decoded."""
    found = re.findall(rb"/ActualText \(((?:[^()\\]|\\.)*)\)", content)
    return [
        re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), text).decode("latin-1")
        for text in found
    ]


def trusted_by(signature, root: x509.Certificate) -> bool:
    """Whether pyHanko finds the signature trusted under `root` alone (it may say no, or fail
    to build a path at all)."""
    try:
        return validate_pdf_signature(signature, trust(root)).trusted
    except PathBuildingError:
        return False


@pytest.fixture
def agreement() -> Agreement:
    return factories.agreement(
        factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan"),
        factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk"),
        status=Agreement.Status.SIGNED,
        title="PKS Rehabilitasi Sosial",
    )


def test_issued_pdf_is_signed_and_pyhanko_validates_it_against_the_root(
    agreement, settings, tmp_path
):
    p12, root = make_pki(tmp_path)
    settings.PDF_SIGNING_PKCS12 = str(p12)
    settings.PDF_SIGNING_PASSWORD = PASSWORD

    document = issuing.issue_document(agreement=agreement)
    data = issuing.read_issued(document)

    assert document.digitally_signed is True
    assert document.size == len(data)
    signatures = PdfFileReader(io.BytesIO(data)).embedded_signatures
    assert len(signatures) == 1
    status = validate_pdf_signature(signatures[0], trust(root))
    assert status.bottom_line, status.pretty_print_details()
    assert status.trusted and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert signatures[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES

    # The same signature does not validate against another root: the check is real.
    _, stranger = make_pki(tmp_path, "Root CA Lain")
    assert not trusted_by(signatures[0], stranger)

    with pikepdf.open(io.BytesIO(data)) as opened:
        # The rendered revision keeps its PDF/A-3 identification under the signature.
        metadata = opened.open_metadata()
        assert metadata["pdfaid:part"] == "3"
        last = opened.pages[-1]
        widgets = [a for a in last.get("/Annots", []) if a.get("/FT") == "/Sig"]
        assert len(widgets) == 1
        x1, y1, x2, y2 = (float(v) for v in widgets[0].Rect)
        # The 7 × 2 cm box the document kept for it.
        assert (round((x2 - x1) / 72 * 2.54, 1), round((y2 - y1) / 72 * 2.54, 1)) == (7.0, 2.0)
        assert int(widgets[0].F) & 4  # printed
        for font in all_fonts(opened):
            assert font_is_embedded(font), font.get("/BaseFont")
        assert any("LiberationSerif" in str(font.BaseFont) for font in all_fonts(opened))
        # The stamp's text (pyHanko marks each line with its /ActualText).
        stamp = actual_texts(b"".join(_streams(widgets[0].AP.N)))
        assert stamp[:2] == ["Ditandatangani secara elektronik oleh:", "Penerbit Dokumen PKS"]
        assert stamp[2].startswith("Waktu: ")
        assert stamp[3] == f"Kode verifikasi: {document.verification_code}"

    if shutil.which("qpdf"):
        path = tmp_path / "signed.pdf"
        path.write_bytes(data)
        result = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
            [required_tool("qpdf"), "--check", str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_password_is_a_configuration_error_and_nothing_is_stored(
    agreement, settings, tmp_path
):
    p12, _ = make_pki(tmp_path)
    settings.PDF_SIGNING_PKCS12 = str(p12)
    settings.PDF_SIGNING_PASSWORD = "salah"
    with pytest.raises(ImproperlyConfigured, match="PDF_SIGNING_PASSWORD"):
        issuing.issue_document(agreement=agreement)
    assert not IssuedDocument.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "private" / "issued").exists()


def test_a_missing_key_file_is_a_configuration_error(agreement, settings, tmp_path):
    settings.PDF_SIGNING_PKCS12 = str(tmp_path / "tidak-ada.p12")
    with pytest.raises(ImproperlyConfigured, match="PDF_SIGNING_PKCS12"):
        issuing.issue_document(agreement=agreement)
    assert not IssuedDocument.objects.exists()


def test_signing_is_off_without_the_settings(settings):
    for name in ("PDF_SIGNING_PKCS12", "PDF_SIGNING_PASSWORD"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert signing.signing_credentials() is None
    settings.PDF_SIGNING_PKCS12 = "  "
    assert signing.signing_credentials() is None
