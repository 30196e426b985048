"""Staff list of agreements (search, filters, pages) and its CSV and Excel exports.

Both go through `agreements.filters.filter_agreements`, so an export holds exactly the
agreements the list shows with the same filters, all pages at once.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable, Iterator

from django.db.models import Prefetch
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from institutions import access
from institutions.pagination import page_of
from institutions.spreadsheets import as_text, csv_stream, text_row

from ..filters import filter_agreements
from ..models import Agreement, AgreementQuerySet, Party

LIST_PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")


def _with_parties(agreements: AgreementQuerySet) -> AgreementQuerySet:
    return agreements.prefetch_related(
        Prefetch(
            "parties",
            queryset=Party.objects.select_related("institution").order_by("order"),
        )
    )


@require_GET
@access.staff_required
def agreement_list(request: HttpRequest) -> HttpResponse:
    """The agreements of the user's institutions, searchable and filtered, 50 a page."""
    form, agreements = filter_agreements(request.user, request.GET)
    # The count stops at a cap ("more than N"), and the list's ordering has its index
    # (`agreement_newest`), so a deep page costs its offset, not the table.
    page = page_of(_with_parties(agreements), LIST_PAGE_SIZE, request.GET.get("page"))
    return render(
        request,
        "agreements/list.html",
        {"form": form, "page": page},
    )


# --- Exports -------------------------------------------------------------------------------


def _headers() -> list[str]:
    return [
        pgettext("export column: running number", "No"),
        _("Title"),
        _("Type"),
        _("Subject"),
        _("Parties"),
        _("Numbers"),
        _("Status"),
        _("Signed on"),
        _("Effective"),
        _("End date"),
        _("Term (months)"),
    ]


#: Column widths of the Excel sheet, in characters, in the order of `_headers()`.
XLSX_WIDTHS = (6, 40, 22, 50, 40, 60, 14, 12, 12, 12, 10)
#: Columns (0-based) holding dates.
DATE_COLUMNS = (7, 8, 9)


def export_rows(agreements: Iterable[Agreement]) -> Iterator[list]:
    """One row per agreement, in `_headers()` order, with dates as dates and numbers as
    numbers (each writer formats them its own way)."""
    for number, agreement in enumerate(agreements, start=1):
        parties = list(agreement.parties.all())
        yield [
            number,
            agreement.title,
            agreement.get_kind_display(),
            agreement.subject,
            "; ".join(party.institution.display_name for party in parties),
            "; ".join(
                f"{party.institution.display_name}: {party.number}"
                for party in parties
                if party.number
            ),
            agreement.get_current_status_display(),
            agreement.signed_on,
            agreement.effective_date,
            agreement.end_date,
            agreement.term_months,
        ]


def csv_chunks(agreements: Iterable[Agreement]) -> Iterator[bytes]:
    """The agreements as CSV (`institutions.spreadsheets.csv_stream`): the response streams
    as the rows are read, its first bytes at once and its memory bounded."""
    return csv_stream(_headers(), export_rows(agreements))


def render_csv(agreements: Iterable[Agreement]) -> bytes:
    """The whole CSV at once (`csv_chunks` joined)."""
    return b"".join(csv_chunks(agreements))


def render_xlsx(agreements: Iterable[Agreement]) -> bytes:
    """The agreements as an Excel workbook: bold frozen header, set widths, real dates."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Agreements")[:31]
    text_row(sheet, _headers())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row_number, row in enumerate(export_rows(agreements), start=2):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=column, value=value)
            as_text(cell)
            if column - 1 in DATE_COLUMNS and isinstance(value, datetime.date):
                cell.number_format = "DD-MM-YYYY"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@require_GET
@access.staff_required
def agreement_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The filtered list, every row, as CSV or Excel (`fmt`); any other format is 404.

    The agreements are read 500 at a time with their parties (two queries a chunk), so the
    cost is linear in the rows exported. The CSV streams as it is read; a workbook is a zip
    file, which can be sent only once it is whole.
    """
    if fmt not in EXPORT_FORMATS:
        raise Http404(_("No such export format."))
    today = timezone.localdate()
    _form, agreements = filter_agreements(request.user, request.GET, today=today)
    rows = _with_parties(agreements).iterator(chunk_size=500)
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(rows), content_type=CONTENT_TYPES[fmt])
    else:
        response = HttpResponse(render_xlsx(rows), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="daftar-pks-{today:%Y-%m-%d}.{fmt}"'
    # Drafts are internal: no shared cache may keep a copy.
    response["Cache-Control"] = "private, no-store"
    return response


urlpatterns: list = [
    path("staff/agreements/", agreement_list, name="list"),
    path("staff/agreements/export.<str:fmt>", agreement_export, name="export"),
]
