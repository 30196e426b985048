"""Institution logos: checked by content, and embedded in the agreement PDF without a fetch."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfReader

from agreements.document import render_agreement_pdf
from institutions.models import LOGO_MAX_BYTES, LOGO_MAX_SIDE, validate_logo
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


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of `width` × `height` white pixels: a few kilobytes for millions of
    pixels, made by hand so that no test ever holds the image itself in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(12_000, 12_000), (LOGO_MAX_SIDE + 1, 10), (10, LOGO_MAX_SIDE + 1), (20_000, 20_000)],
)
def test_a_logo_of_too_many_pixels_is_refused_from_its_header(width, height, monkeypatch):
    data = huge_png(width, height)
    assert len(data) < LOGO_MAX_BYTES  # tiny in bytes: only the pixels are too many
    with monkeypatch.context() as unlimited:
        # A sound image, as Pillow sees it once its own bomb limit is off.
        unlimited.setattr(Image, "MAX_IMAGE_PIXELS", None)
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (width, height)
            assert image.format == "PNG"

    def must_not_decode(self, *args, **kwargs):
        raise AssertionError("the image was decoded or verified before its size was checked")

    monkeypatch.setattr(Image.Image, "verify", must_not_decode)
    monkeypatch.setattr(Image.Image, "load", must_not_decode)
    with pytest.raises(ValidationError) as refused:
        validate_logo(SimpleUploadedFile("logo.png", data))
    assert refused.value.code == "too_many_pixels"


def test_a_logo_at_the_pixel_bound_is_accepted():
    validate_logo(SimpleUploadedFile("logo.png", huge_png(LOGO_MAX_SIDE, LOGO_MAX_SIDE)))
