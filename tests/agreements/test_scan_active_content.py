"""Signed scans with active content are refused at upload, whatever part of the object graph
carries it (catalogue, name trees, pages, annotations, form fields, outline), and nothing is
stored; an ordinary PDF, with internal links, still passes. The PDFs are built here with
pikepdf, one per kind of active content."""

from __future__ import annotations

import io
from collections.abc import Callable

import pikepdf
import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from pikepdf import Array, Dictionary, Name, String
from pypdf import PdfReader

from agreements.document import render_agreement_html, render_agreement_pdf
from agreements.document.engine import html_to_pdf
from agreements.models import SignedScan
from agreements.services import documents
from tests.agreements.test_documents import private_files, upload, upload_url, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _javascript(pdf: pikepdf.Pdf) -> Dictionary:
    return pdf.make_indirect(
        Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String("app.alert(1)"))
    )


def _action(kind: str, **keys) -> Callable[[pikepdf.Pdf], Dictionary]:
    def make(pdf: pikepdf.Pdf) -> Dictionary:
        return pdf.make_indirect(Dictionary(Type=Name.Action, S=Name(kind), **keys))

    return make


def _link(pdf: pikepdf.Pdf, action: Dictionary) -> None:
    """A link annotation on the first page that runs `action` when clicked."""
    annotation = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[72, 72, 144, 144], A=action)
    )
    pdf.pages[0].obj.Annots = pdf.make_indirect(Array([annotation]))


def _base() -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.add_blank_page(page_size=(595, 842))
    return pdf


def open_action(pdf):
    pdf.Root.OpenAction = _javascript(pdf)


def open_action_chained(pdf):
    # A harmless first action whose /Next runs a script: the walk follows the chain.
    first = pdf.make_indirect(
        Dictionary(Type=Name.Action, S=Name.GoTo, D=[pdf.pages[0].obj, Name.Fit])
    )
    first.Next = _javascript(pdf)
    pdf.Root.OpenAction = first


def names_javascript(pdf):
    pdf.Root.Names = Dictionary(
        JavaScript=pdf.make_indirect(Dictionary(Names=[String("start"), _javascript(pdf)]))
    )


def document_additional_actions(pdf):
    pdf.Root.AA = Dictionary(WC=_javascript(pdf))


def page_additional_actions(pdf):
    pdf.pages[1].obj.AA = Dictionary(O=_javascript(pdf))


def launch(pdf):
    _link(pdf, _action("/Launch", F=String("cmd.exe"))(pdf))


def submit_form(pdf):
    _link(pdf, _action("/SubmitForm", F=String("https://example.org/collect"))(pdf))


def import_data(pdf):
    _link(pdf, _action("/ImportData", F=String("data.fdf"))(pdf))


def go_to_remote(pdf):
    _link(pdf, _action("/GoToR", F=String("other.pdf"), D=[0, Name.Fit])(pdf))


def uri(pdf):
    _link(pdf, _action("/URI", URI=String("https://example.org/"))(pdf))


def embedded_file(pdf):
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(
        pdf, b"MZ\x90\x00", mime_type="application/octet-stream"
    )


def file_attachment_annotation(pdf):
    spec = pikepdf.AttachedFileSpec(pdf, b"secret", mime_type="text/plain").obj
    annotation = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.FileAttachment, Rect=[0, 0, 10, 10], FS=spec)
    )
    pdf.pages[0].obj.Annots = Array([annotation])


def rich_media(pdf):
    annotation = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.RichMedia,
            Rect=[0, 0, 10, 10],
            RichMediaContent=Dictionary(Assets=Dictionary(Names=[])),
        )
    )
    pdf.pages[0].obj.Annots = Array([annotation])


def xfa_form(pdf):
    xfa = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
    pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=xfa)


def form_field_script(pdf):
    widget = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Widget,
            FT=Name.Tx,
            T=String("nama"),
            Rect=[72, 600, 300, 620],
            AA=Dictionary(K=_javascript(pdf)),
        )
    )
    pdf.pages[0].obj.Annots = Array([widget])
    pdf.Root.AcroForm = Dictionary(Fields=Array([widget]))


def form_field_submit_button(pdf):
    button = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Widget,
            FT=Name.Btn,
            Ff=65536,
            T=String("kirim"),
            Rect=[72, 600, 300, 620],
            A=_action("/SubmitForm", F=String("https://example.org/"))(pdf),
        )
    )
    pdf.Root.AcroForm = Dictionary(Fields=Array([button]))


def outline_script(pdf):
    item = pdf.make_indirect(Dictionary(Title=String("Bab 1"), A=_javascript(pdf)))
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = outlines
    pdf.Root.Outlines = outlines


ACTIVE = [
    open_action,
    open_action_chained,
    names_javascript,
    document_additional_actions,
    page_additional_actions,
    launch,
    submit_form,
    import_data,
    go_to_remote,
    uri,
    embedded_file,
    file_attachment_annotation,
    rich_media,
    xfa_form,
    form_field_script,
    form_field_submit_button,
    outline_script,
]


def build(change: Callable[[pikepdf.Pdf], None] | None = None) -> bytes:
    pdf = _base()
    if change is not None:
        change(pdf)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.parametrize("change", ACTIVE, ids=[change.__name__ for change in ACTIVE])
def test_a_scan_with_active_content_is_refused_and_nothing_is_stored(world, settings, change):  # noqa: F811
    data = build(change)
    assert len(PdfReader(io.BytesIO(data)).pages) == 2  # otherwise a sound PDF
    with pytest.raises(ValidationError) as refused:
        documents.scan_upload(agreement=world["signed"], user=world["editor"], upload=upload(data))
    assert refused.value.code == "active_content"
    assert "active content" in refused.value.messages[0]
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_an_ordinary_pdf_with_an_internal_link_and_an_outline_passes(world):  # noqa: F811
    def internal_links(pdf):
        target = [pdf.pages[1].obj, Name.Fit]
        _link(pdf, pdf.make_indirect(Dictionary(Type=Name.Action, S=Name.GoTo, D=target)))
        item = pdf.make_indirect(Dictionary(Title=String("Halaman 2"), Dest=target))
        outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item))
        item.Parent = outlines
        pdf.Root.Outlines = outlines

    scan = documents.scan_upload(
        agreement=world["signed"], user=world["editor"], upload=upload(build(internal_links))
    )
    assert scan.pages == 2


def test_the_sites_own_rendering_without_its_attachment_passes(world):  # noqa: F811
    # Fonts, compressed streams, tagged structure, metadata: none of it is active content.
    data = html_to_pdf(render_agreement_html(world["signed"]))
    scan = documents.scan_upload(
        agreement=world["signed"], user=world["editor"], upload=upload(data)
    )
    assert scan.pages >= 1


def test_the_official_document_with_its_json_attachment_is_not_a_scan(world):  # noqa: F811
    data = render_agreement_pdf(world["signed"])
    with pytest.raises(ValidationError) as refused:
        documents.scan_upload(agreement=world["signed"], user=world["editor"], upload=upload(data))
    assert refused.value.code == "active_content"


def test_the_walk_is_bounded(world, settings):  # noqa: F811
    reader = PdfReader(io.BytesIO(build()))
    assert documents.find_active_content(reader) is None
    with pytest.raises(ValidationError) as refused:
        documents.find_active_content(reader, limit=3)
    assert refused.value.code == "too_complex"


def test_the_upload_page_says_why_and_stores_nothing(client, world, settings):  # noqa: F811
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(world["editor"])
    response = client.post(upload_url(world["signed"]), {"file": upload(build(open_action))})
    assert response.status_code == 200
    assert "The PDF contains active content" in response.content.decode()
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_the_refusal_is_in_indonesian_by_default(client, world, settings):  # noqa: F811
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "id"
    client.force_login(world["editor"])
    with translation.override("id"):
        response = client.post(upload_url(world["signed"]), {"file": upload(build(uri))})
    assert "konten aktif" in response.content.decode()
    assert not SignedScan.objects.exists()
