"""Calendar feeds: each staff member's own iCalendar address of each of their institutions'
meetings and signing events, for calendar apps, and the staff page that makes, shows,
replaces and removes those addresses."""

from __future__ import annotations

import datetime
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from institutions import access

from .. import access as agreement_access
from .. import caching, ical
from ..models import Agreement, CalendarFeed, Party
from ..services import calendar as services

logger = logging.getLogger(__name__)

#: How far back and ahead a feed reaches: a bounded window, so that its cost does not grow
#: with the years of meetings behind an institution (documented in the README).
FEED_PAST = datetime.timedelta(days=90)
FEED_AHEAD = datetime.timedelta(days=365)


def feed_url(feed: CalendarFeed) -> str:
    """The full address of a feed, for calendar apps."""
    return settings.SITE_URL + reverse("agreements:calendar_feed", args=[feed.token])


def webcal_url(url: str) -> str:
    """The `webcal:` form of a feed's address, which opens the calendar app to subscribe."""
    return "webcal://" + url.split("://", 1)[1] if urlsplit(url).scheme else url


@require_GET
@access.staff_required
def calendar(request: HttpRequest) -> HttpResponse:
    """The user's institutions, each with the user's own feed address of it, or a button to
    make one."""
    user = request.user
    institutions = list(agreement_access.feed_institutions(user).order_by("name"))
    feeds = {
        feed.institution_id: feed
        for feed in CalendarFeed.objects.filter(user=user, institution__in=institutions)
    }
    rows = []
    for institution in institutions:
        feed = feeds.get(institution.pk)
        url = feed_url(feed) if feed else ""
        rows.append({"institution": institution, "url": url, "webcal": webcal_url(url)})
    return render(request, "agreements/calendar/calendar.html", {"rows": rows})


@require_POST
@access.staff_required
def calendar_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    """Make the user's own address of an institution's feed, or replace it: the old one stops
    working at once. 404 unless the user holds a role there."""
    institution = agreement_access.get_feed_institution_for_user(request.user, pk)
    services.feed_replace(user=request.user, institution=institution)
    messages.success(
        request,
        _(
            "Your calendar address of %(name)s is ready. If you had one before, it no longer "
            "works: subscribe again with the new one."
        )
        % {"name": institution.name},
    )
    return redirect("agreements:calendar")


@require_POST
@access.staff_required
def calendar_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove the user's own address of an institution's feed: it stops working at once."""
    institution = agreement_access.get_feed_institution_for_user(request.user, pk)
    if services.feed_revoke(user=request.user, institution=institution):
        messages.success(
            request,
            _("Your calendar address of %(name)s has been removed.") % {"name": institution.name},
        )
    return redirect("agreements:calendar")


def feed_window(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The first and last day a feed covers: `FEED_PAST` back and `FEED_AHEAD` ahead."""
    today = today or timezone.localdate()
    return today - FEED_PAST, today + FEED_AHEAD


def _feed_body(feed: CalendarFeed) -> bytes:
    institution = feed.institution
    since, until = feed_window()
    meetings = (
        agreement_access.feed_meetings(feed)
        .filter(date__gte=since, date__lte=until)
        .select_related("agreement")
        .order_by("date", "start_time", "pk")
    )
    signings = (
        agreement_access.feed_signing_events(feed)
        .filter(date__gte=since, date__lte=until)
        .prefetch_related(
            Prefetch(
                "agreements",
                queryset=Agreement.objects.annotate(
                    is_party=Exists(
                        Party.objects.filter(agreement=OuterRef("pk"), institution=institution)
                    )
                ).only("pk", "title", "signing_event"),
            )
        )
        .order_by("date", "pk")
    )
    events = [
        (
            signing,
            [
                agreement.title
                for agreement in signing.agreements.all()
                if agreement_access.feed_names_agreement(feed, signing, is_party=agreement.is_party)
            ],
        )
        for signing in signings
    ]
    return ical.institution_calendar(institution, meetings, events)


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """One person's feed of an institution's meetings and signing events, from `FEED_PAST`
    back to `FEED_AHEAD` ahead.

    No login (calendar apps cannot log in): the long random token is the key, and it works
    only while its owner holds a role at the institution (404 otherwise). It lists what the
    owner may see at the time of the request, and no attendee or participant data.

    Calendar apps poll it every few hours: the body is kept in the cache until a meeting,
    signing event, agreement, party or institution changes (`agreements.caching`), and a
    request that has it already (its ETag, or not modified since) gets 304.
    """
    feed = agreement_access.get_live_feed(token)
    key = caching.key(caching.CALENDAR, feed.pk, feed.token, get_language() or "")
    etag = caching.etag(key)
    cached = caching.get(key)
    if cached is None:
        cached = (_feed_body(feed), timezone.now())
        caching.put(key, cached)
    body, last_modified = cached
    last_modified_ts = int(last_modified.timestamp())
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(last_modified_ts),
        "Cache-Control": "private, max-age=0",
        "X-Robots-Tag": "noindex, nofollow",
    }
    not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified_ts)
    if not_modified is not None:
        for name, value in headers.items():
            not_modified[name] = value
        return not_modified
    response = HttpResponse(body, content_type=ical.CONTENT_TYPE)
    filename = slugify(feed.institution.display_name) or "calendar"
    response["Content-Disposition"] = f'inline; filename="{filename}.ics"'
    for name, value in headers.items():
        response[name] = value
    return response


urlpatterns: list = [
    path("staff/calendar/", calendar, name="calendar"),
    path("staff/calendar/<int:pk>/regenerate/", calendar_regenerate, name="calendar_regenerate"),
    path("staff/calendar/<int:pk>/revoke/", calendar_revoke, name="calendar_revoke"),
    path("calendar/<str:token>.ics", calendar_feed, name="calendar_feed"),
]
