"""Reports of programmes and institutions, the public statistics, exports of participants'
personal data (the access log is `views.access_log`).

- Reports are aggregates (no names, no register numbers): any staff role of the programme's
  host or partners, or of the institution, sees them; everyone else gets 404. Those who may
  see the participants' records there get exact figures, and each such view or download is
  one line of the access log; everyone else gets figures protected by the one disclosure
  rule (`rehabilitation.disclosure`), for whole calendar years.
- The public statistics show counts only, protected by the same rule (`reports.suppress`).
- Exports of personal data need a personal-data role; identified exports (names, register
  numbers, dates of birth) only an administrator of the participants' institution. Every
  export is written to the access log as one line listing the participants.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agreements.models import Agreement
from institutions.access import staff_required
from institutions.forms import date_input
from institutions.models import Institution

from .. import access, charts, disclosure, exports, reports
from ..models import AccessLog, Programme
from ..services.audit import log_context, record_read, record_report_access

XLSX_CONTENT_TYPE = exports.CONTENT_TYPES["xlsx"]


# --- Forms ---------------------------------------------------------------------------------


class PeriodForm(forms.Form):
    """The period of a report; an empty field takes this calendar year's first or last day."""

    start = forms.DateField(label=gettext_lazy("From"), widget=date_input())
    end = forms.DateField(label=gettext_lazy("Until"), widget=date_input())

    def __init__(self, query, *, today: datetime.date | None = None) -> None:
        default = reports.Period.calendar_year(today)
        super().__init__(
            {
                "start": query.get("start") or default.start.isoformat(),
                "end": query.get("end") or default.end.isoformat(),
            }
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end of the period cannot be before its start."))
        return self.cleaned_data

    @property
    def period(self) -> reports.Period:
        return reports.Period(self.cleaned_data["start"], self.cleaned_data["end"])

    def shown_period(self, *, exact: bool) -> reports.Period:
        """The period a report shows: the one asked for exact figures; for protected ones
        the whole calendar year of its start (`disclosure.protected_period`)."""
        if exact:
            return self.period
        return reports.Period(*disclosure.protected_period(self.period.start, self.period.end))


# --- Reports ------------------------------------------------------------------------------


def _report_format(request: HttpRequest) -> str:
    """ "html" (the page) or "xlsx"; any other `format` is 404."""
    fmt = request.GET.get("format") or "html"
    if fmt not in ("html", "xlsx"):
        raise Http404(_("No such report format."))
    return fmt


def report_charts(figures: reports.ShownFigures) -> list[charts.Chart]:
    """The charts of a report page, each drawn from the same figures as its table."""
    people = _("People")
    return [
        charts.bar_chart(
            key="overview",
            title=_("Enrolments in the period"),
            bars=[
                (_("Enrolled in the period"), figures.enrolled),
                (_("Active at the end of the period"), figures.active),
                (_("Completed"), figures.completed),
                (_("Dropped out"), figures.dropped_out),
            ],
            value_label=people,
        ),
        charts.bar_chart(
            key="phases",
            title=_("Active per phase at the end of the period"),
            bars=[(line.label, line.cell) for line in figures.active_by_phase],
            value_label=people,
        ),
        charts.bar_chart(
            key="endings",
            title=_("Endings in the period"),
            bars=[(line.label, line.cell) for line in figures.endings],
            value_label=people,
        ),
        charts.bar_chart(
            key="attendance",
            title=_("Attendance at sessions in the period"),
            bars=[(line.label, line.cell) for line in figures.attendance],
            value_label=_("Marks"),
        ),
        charts.bar_chart(
            key="risk",
            title=_("ASSIST risk at intake (enrolments started in the period)"),
            bars=[(line.label, line.cell) for line in figures.intake_risk],
            value_label=people,
        ),
    ]


def _xlsx_response(content: bytes, name: str, period: reports.Period) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    filename = f"laporan-{slugify(name)[:60]}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _period_context(form: PeriodForm, shown: reports.Period | None) -> dict:
    """Whether the period shown differs from the one asked (protected figures)."""
    asked = form.period if form.is_valid() else None
    return {"period_snapped": shown is not None and asked is not None and shown != asked}


@never_cache
@require_GET
@staff_required
def programme_report(request: HttpRequest, pk: int) -> HttpResponse:
    """A programme's figures for a period, as a page with charts or as Excel (?format=xlsx),
    for any staff of its host or partner institutions: exact for those who may see its
    participants (and logged), protected for everyone else."""
    programme, _may_manage = access.get_programme_for_user(
        request.user, pk, queryset=Programme.objects.select_related("host", "agreement")
    )
    fmt = _report_format(request)
    form = PeriodForm(request.GET)
    exact = access.may_see_exact_report(request.user, programme)
    figures = period = None
    if form.is_valid():
        period = form.shown_period(exact=exact)
        figures = reports.shown_figures(
            reports.programme_figures(programme=programme, period=period), exact=exact
        )
        if exact:
            record_report_access(
                user=request.user,
                institution=programme.host,
                detail=f"report programme {programme.pk} {period.start}..{period.end} {fmt}",
                **log_context(request),
            )
        if fmt == "xlsx":
            content = reports.render_xlsx(title=programme.name, figures=figures)
            return _xlsx_response(content, programme.name, period)
    return render(
        request,
        "rehabilitation/reports/programme_report.html",
        {
            "programme": programme,
            "form": form,
            "figures": figures,
            "charts": report_charts(figures) if figures else [],
            "mode": reports.mode_text(figures) if figures else "",
            **_period_context(form, period),
        },
    )


@never_cache
@require_GET
@staff_required
def institution_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The figures of the programmes an institution hosts or is a partner of, together and
    per programme, for any staff of that institution: exact for those who may see its
    participants' records (and logged), protected for everyone else."""
    if not access.may_see_institution_report(request.user, pk):
        raise Http404(_("No such institution."))
    institution = get_object_or_404(Institution, pk=pk)
    fmt = _report_format(request)
    form = PeriodForm(request.GET)
    exact = access.may_see_exact_report(request.user, institution)
    result = period = None
    if form.is_valid():
        period = form.shown_period(exact=exact)
        result = reports.shown_institution(
            reports.institution_figures(institution=institution, period=period), exact=exact
        )
        if exact:
            record_report_access(
                user=request.user,
                institution=institution,
                detail=f"report institution {institution.pk} {period.start}..{period.end} {fmt}",
                **log_context(request),
            )
        if fmt == "xlsx":
            content = reports.render_xlsx(
                title=institution.name, figures=result.total, programmes=result.programmes
            )
            return _xlsx_response(content, institution.display_name, period)
    return render(
        request,
        "rehabilitation/reports/institution_report.html",
        {
            "institution": institution,
            "form": form,
            "result": result,
            "figures": result.total if result else None,
            "charts": report_charts(result.total) if result else [],
            "mode": reports.mode_text(result.total) if result else "",
            **_period_context(form, period),
        },
    )


# --- Public statistics --------------------------------------------------------------------


#: Programmes per page of the public statistics.
PUBLIC_PAGE_SIZE = 50
#: Pages beyond this are the last one: an offset stays bounded whatever is asked.
PUBLIC_MAX_PAGE = 1000


def _page_number(value: str | None) -> int:
    """The page asked for, 1 for anything that is not a positive number."""
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(number, 1), PUBLIC_MAX_PAGE)


@require_GET
def public_statistics(request: HttpRequest) -> HttpResponse:
    """Counts per programme for everyone, without login: no group under 10 people shown.
    A page of programmes at a time, in one query (one row more than shown tells whether
    there is a next page: nothing is counted)."""
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * PUBLIC_PAGE_SIZE
    programmes = (
        Programme.objects.filter(agreement__status__in=Agreement.PUBLIC_STATUSES)
        .select_related("host", "agreement", "tally")
        .order_by("-launch_date", "name", "pk")
    )[start : start + PUBLIC_PAGE_SIZE + 1]
    lines = reports.public_counts(programmes)
    return render(
        request,
        "rehabilitation/public/statistics.html",
        {
            "lines": lines[:PUBLIC_PAGE_SIZE],
            "as_of": reports.counted_as_of(lines[:PUBLIC_PAGE_SIZE]),
            "min_cell": disclosure.MIN_CELL,
            "previous_page": number - 1 if number > 1 else None,
            "next_page": number + 1 if len(lines) > PUBLIC_PAGE_SIZE else None,
        },
    )


# --- Exports of personal data -------------------------------------------------------------


@never_cache
@require_GET
@staff_required
def participants_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The participants the user may see, as CSV or Excel, pseudonymised unless
    `?identified=1` is asked by an administrator (only their own institutions' participants
    are then exported). The export is one line of the access log, listing the participants."""
    if fmt not in exports.FORMATS:
        raise Http404(_("No such export format."))
    user = request.user
    identified = request.GET.get("identified") == "1"
    participants = access.visible_participants(user)
    if identified:
        if not access.may_export_identified(user):
            raise PermissionDenied(
                _("Only an institution's administrators may export names and numbers.")
            )
        own = access.identified_export_institution_ids(user)
        if own is not None:
            participants = participants.filter(institution_id__in=own)
    elif not access.may_see_personal_data(user):
        raise PermissionDenied(_("Your role does not give access to participants' data."))
    kind = "identified" if identified else "pseudonymised"
    logged = log_context(request)

    def log_export() -> None:
        # One line per institution holding them, listing them in bulk, from the ids alone.
        record_read(
            **logged,
            records=participants.order_by().values_list("pk", "institution_id").iterator(),
            user=user,
            action=AccessLog.Action.EXPORT,
            detail=f"{kind} {fmt}",
        )

    rows = exports.for_export(exports.export_order(participants), user).iterator(
        chunk_size=exports.CHUNK_SIZE
    )
    label = "identitas" if identified else "pseudonim"
    filename = f"peserta-{label}-{timezone.localdate():%Y-%m-%d}.{fmt}"
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(
            _in_language(
                _logged_before_rows(exports.stream_csv(rows, identified=identified), log_export)
            ),
            content_type=exports.CONTENT_TYPES[fmt],
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    log_export()
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response once sent)
    exports.write_xlsx(rows, identified=identified, output=output)
    output.seek(0)
    return FileResponse(
        output, as_attachment=True, filename=filename, content_type=exports.CONTENT_TYPES[fmt]
    )


def _logged_before_rows(pieces: Iterator[bytes], log: Callable[[], None]) -> Iterator[bytes]:
    """`pieces` (the header first), with the access log written after the header has gone
    out and before any row is read, in its own transaction: the first byte does not wait for
    the log of thousands of people, and a log that cannot be written ends the stream before
    any personal data is sent (no unlogged read)."""
    header = next(pieces, None)
    if header is None:
        return
    yield header
    with transaction.atomic():
        log()
    yield from pieces


def _in_language(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces`, each made in the language of the request: a stream is read after the view
    has returned, when the request's language may no longer be active."""
    language = translation.get_language()
    while True:
        with translation.override(language):
            piece = next(pieces, None)
        if piece is None:
            return
        yield piece


urlpatterns = [
    path("staff/programmes/<int:pk>/report/", programme_report, name="programme_report"),
    path("staff/institutions/<int:pk>/report/", institution_report, name="institution_report"),
    path("staff/participants/export.<str:fmt>", participants_export, name="participants_export"),
    path("statistics/", public_statistics, name="public_statistics"),
]
