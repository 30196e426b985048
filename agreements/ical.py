"""iCalendar (RFC 5545) data of meetings and signing events, for calendar apps.

Times are local to Asia/Jakarta (WIB, +07:00) and written with that TZID plus a VTIMEZONE,
which Outlook and Google Calendar need. UIDs are stable per object, so that a calendar app
updates an event rather than adding it twice. No personal data of attendees or programme
participants is ever written here: a feed can be read by anyone holding its URL.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vDuration

from institutions.models import Institution

from .models import Meeting, SigningEvent

WIB = ZoneInfo("Asia/Jakarta")
PRODID = "-//PKS Registry//Cooperation agreements//ID"
#: How long a meeting "until finished" (hingga selesai) is shown to last.
UNTIL_FINISHED = datetime.timedelta(hours=3)
CONTENT_TYPE = "text/calendar; charset=utf-8"
FEED_REFRESH = datetime.timedelta(hours=6)


def _uid_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def meeting_uid(meeting: Meeting) -> str:
    return f"meeting-{meeting.pk}@{_uid_host()}"


def signing_uid(event: SigningEvent) -> str:
    return f"signing-{event.pk}@{_uid_host()}"


def meeting_url(meeting: Meeting) -> str:
    """The full address of the meeting's staff page."""
    return settings.SITE_URL + reverse("agreements:meeting_detail", args=[meeting.pk])


def meeting_start(meeting: Meeting) -> datetime.datetime:
    return datetime.datetime.combine(meeting.date, meeting.start_time, tzinfo=WIB)


def meeting_end(meeting: Meeting) -> datetime.datetime:
    if meeting.end_time is None:
        return meeting_start(meeting) + UNTIL_FINISHED
    return datetime.datetime.combine(meeting.date, meeting.end_time, tzinfo=WIB)


def _calendar(name: str = "") -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if name:
        calendar.add("x-wr-calname", name)
        calendar.add("x-wr-timezone", str(WIB))
    return calendar


def meeting_vevent(meeting: Meeting, *, stamp: datetime.datetime | None = None) -> Event:
    """One meeting as a VEVENT; reads `meeting.agreement` (select it along)."""
    event = Event()
    event.add("uid", meeting_uid(meeting))
    event.add("dtstamp", stamp or timezone.now())
    event.add("dtstart", meeting_start(meeting))
    event.add("dtend", meeting_end(meeting))
    event.add("summary", meeting.agreement.title)
    event.add("location", meeting.venue)
    parts = [meeting.agenda.strip()] if meeting.agenda.strip() else []
    if meeting.end_time is None:
        parts.append(_("Until finished (hingga selesai): the end time is an estimate."))
    url = meeting_url(meeting)
    parts.append(url)
    event.add("description", "\n\n".join(parts))
    event.add("url", url)
    return event


def signing_vevent(
    signing: SigningEvent,
    agreement_titles: Iterable[str],
    *,
    stamp: datetime.datetime | None = None,
) -> Event:
    """One signing ceremony as a VEVENT, naming only the agreements given."""
    event = Event()
    event.add("uid", signing_uid(signing))
    event.add("dtstamp", stamp or timezone.now())
    if signing.start_time is None:
        event.add("dtstart", signing.date)
        event.add("dtend", signing.date + datetime.timedelta(days=1))
    else:
        start = datetime.datetime.combine(signing.date, signing.start_time, tzinfo=WIB)
        event.add("dtstart", start)
        event.add("dtend", start + UNTIL_FINISHED)
    titles = sorted(agreement_titles)
    event.add(
        "summary",
        _("Signing: %(titles)s") % {"titles": "; ".join(titles)} if titles else _("Signing"),
    )
    event.add("location", signing.venue)
    return event


def meeting_calendar(meeting: Meeting) -> bytes:
    """A VCALENDAR with the one meeting, for download."""
    calendar = _calendar()
    calendar.add_component(meeting_vevent(meeting))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def meeting_filename(meeting: Meeting) -> str:
    """A safe ASCII file name: meeting-2025-07-29-pks-batang.ics."""
    slug = slugify(meeting.agreement.title)[:60].strip("-") or "agreement"
    return f"meeting-{meeting.date:%Y-%m-%d}-{slug}.ics"


def institution_calendar(
    institution: Institution,
    meetings: Iterable[Meeting],
    signings: Iterable[tuple[SigningEvent, list[str]]],
) -> bytes:
    """An institution's feed: its meetings, and its signing events with the agreement titles
    it may know of."""
    stamp = timezone.now()
    calendar = _calendar(_("Meetings and signings: %(name)s") % {"name": institution.name})
    # How often to fetch again: RFC 7986, and the older name Outlook reads.
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
    for meeting in meetings:
        calendar.add_component(meeting_vevent(meeting, stamp=stamp))
    for signing, titles in signings:
        calendar.add_component(signing_vevent(signing, titles, stamp=stamp))
    calendar.add_missing_timezones()
    return calendar.to_ical()
