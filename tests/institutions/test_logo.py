"""Institution logos: checked by content, and embedded in the agreement PDF without a fetch."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfReader

from agreements.document import render_agreement_pdf
from institutions.models import LOGO_MAX_BYTES, validate_logo
from tests import factories


def image_bytes(fmt: str, size=(60, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (11, 83, 148)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_are_accepted(fmt):
    validate_logo(SimpleUploadedFile(f"logo.{fmt.lower()}", image_bytes(fmt)))


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("logo.png", image_bytes("GIF"), "format"),
        ("logo.png", b"%PDF-1.7 not an image", "damaged"),
        ("logo.png", image_bytes("PNG")[:40], "damaged"),
        ("logo.png", b"\x89PNG" + b"0" * (LOGO_MAX_BYTES + 1), "too_large"),
    ],
)
def test_other_content_is_refused(name, content, code):
    with pytest.raises(ValidationError) as refused:
        validate_logo(SimpleUploadedFile(name, content))
    assert refused.value.code == code


@pytest.mark.django_db
def test_logos_are_printed_above_the_title():
    rutan = factories.institution()
    rutan.logo = SimpleUploadedFile("../../etc/logo.png", image_bytes("PNG"))
    rutan.full_clean()
    rutan.save()
    assert rutan.logo.name.startswith("logos/") and ".." not in rutan.logo.name
    agreement = factories.agreement(rutan, factories.institution(kind="bnnk"))
    first_page = PdfReader(io.BytesIO(render_agreement_pdf(agreement))).pages[0]
    assert len(first_page.images) == 1


@pytest.mark.django_db
def test_a_missing_logo_file_does_not_stop_the_document():
    rutan = factories.institution()
    rutan.logo.name = "logos/gone.png"
    rutan.save()
    agreement = factories.agreement(rutan, factories.institution(kind="bnnk"))
    assert render_agreement_pdf(agreement).startswith(b"%PDF-")
