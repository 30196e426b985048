"""National-scale synthetic data, for measuring the pages at the size of the whole system.

`seed_scale(scale=1.0)` makes about 600 institutions over 38 provinces (with their BNNK, BNNP
and regional offices), 20,000 agreements with 2–4 parties and their articles, status history,
meetings (attendees, follow-ups), signing events and issued documents, 300 staff accounts,
1,500 programmes, 300,000 participants and 1,000,000 enrolments with their screenings,
assessments, events and phases, and the sessions of recent weeks with their attendance. Every
count is proportional to `scale` (with small floors, so that 0.001 still has one of
everything). The correctional units are ranked and their share of the work falls off like
1/rank (Zipf): a few units are very busy, most are quiet.

Everything is written in bulk, bypassing the services for speed: rows are generated in memory
and inserted with `COPY` on PostgreSQL and `executemany` on SQLite, with primary keys chosen
here, a transaction per stage. So the rules the services enforce are kept by construction
instead, and `tests/test_seed_scale.py` checks them on the result:

- agreements move draft → discussion → ready → signed (→ terminated), one `StatusChange` per
  move in order of time; signed ones have their signing event, dates, frozen parties, numbers
  unique per institution and an `IssuedDocument`;
- a programme runs under a signed agreement its host is a party to, launched on the signing
  day; its phases are the standard TC phases;
- an enrolment starts with its intake screening (an `EnrolmentEvent` "" → screened); low risk
  on every substance is referred (education only); the others are assessed, enrolled, go
  through the phases in order (`EnrolmentPhase` rows that close when the next one opens) and
  end completed (with the outcome) or dropped out, released, transferred or referred, or are
  still under way when the next move would fall after today. Every move has its event, no
  move is dated before the previous one nor after today;
- a participant is enrolled only in programmes that run at their institution, once per
  programme, one enrolment at a time (so never active in two programmes of a type), only
  while the programme's agreement is in force;
- a programme's capacity, when it has one, is at least the largest number of participants
  ever active in it at once;
- attendance is recorded only for enrolments active on the session's day;
- the access log holds a "change" line for each participant's creation and each intake
  screening, with the institution holding them.

Not written (the services would): the `History` entries of these records, the access-log
lines of the later moves, transfers, progress notes and notices. Accounts all share one known
password (`SCALE_PASSWORD`), so they are refused with DEBUG off unless asked for.

The issued documents: a few are rendered for real (their own agreement, code and hash); every
other issued row points to one of those files with its hash and size, so `/verify/<code>/`
and the issued-PDF download work everywhere without rendering 15,000 PDFs.

Same seed, same scale and same day → the same rows with the same primary keys (on an empty
database): names, dates and choices come from one `random.Random(seed)`.
"""

from __future__ import annotations

import bisect
import datetime
import hashlib
import io
import itertools
import json
import math
import random
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from agreements.models import (
    VERIFICATION_ALPHABET,
    VERIFICATION_CODE_LENGTH,
    Agreement,
    Article,
    Attendee,
    FollowUp,
    IssuedDocument,
    Meeting,
    Party,
    SigningEvent,
    StatusChange,
    private_storage,
)
from agreements.standard_articles import (
    STANDARD_ARTICLES,
    STANDARD_CONSIDERATIONS,
    STANDARD_LEGAL_BASIS,
)
from institutions.models import Institution, Membership, Person, Position
from rehabilitation.assist import Substance, risk_band
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Attendance,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Participant,
    Phase,
    Programme,
    Screening,
    ScreeningScore,
    Session,
)

#: The password of every account the command makes (printed and written to the accounts file).
SCALE_PASSWORD = "skala-nasional-2026"  # noqa: S105 - published, refused without DEBUG
#: The apps whose rows are counted (an empty database has none of them) and replaced.
SEEDED_APPS = ("institutions", "agreements", "rehabilitation")

#: At scale 1.0: the national size.
NATIONAL = {
    "provinces": 38,
    "bnnk": 160,
    "rutan": 165,
    "lapas": 170,
    "lpka": 18,
    "other": 10,
    "agreements": 20_000,
    "meetings": 30_000,
    "staff": 300,
    "programmes": 1_500,
    "participants": 300_000,
    "enrolments": 1_000_000,
}
#: The least of each, whatever the scale: one of everything, and a unit busier than the rest.
FLOORS = {
    "provinces": 2,
    "bnnk": 2,
    "rutan": 2,
    "lapas": 2,
    "lpka": 1,
    "other": 1,
    "agreements": 12,
    "meetings": 12,
    "staff": 8,
    "programmes": 8,
    "participants": 60,
    "enrolments": 150,
}
#: How many years of history the data covers, back from today.
YEARS = 6
#: Sessions (and their attendance) are made for this many recent weeks.
SESSION_WEEKS = 12

STANDARD_PHASES = (("Orientasi", 2), ("Primer", 19), ("Persiapan Re-entry", 3))

PROVINCES = (
    "Aceh", "Sumatera Utara", "Sumatera Barat", "Riau", "Jambi", "Sumatera Selatan",
    "Bengkulu", "Lampung", "Kepulauan Bangka Belitung", "Kepulauan Riau", "DKI Jakarta",
    "Jawa Barat", "Jawa Tengah", "DI Yogyakarta", "Jawa Timur", "Banten", "Bali",
    "Nusa Tenggara Barat", "Nusa Tenggara Timur", "Kalimantan Barat", "Kalimantan Tengah",
    "Kalimantan Selatan", "Kalimantan Timur", "Kalimantan Utara", "Sulawesi Utara",
    "Sulawesi Tengah", "Sulawesi Selatan", "Sulawesi Tenggara", "Gorontalo", "Sulawesi Barat",
    "Maluku", "Maluku Utara", "Papua", "Papua Barat", "Papua Selatan", "Papua Tengah",
    "Papua Pegunungan", "Papua Barat Daya",
)  # fmt: skip

# Invented place and person names are put together from these pieces.
_PLACE_START = ("Su", "Ka", "Ba", "Ma", "Pa", "Ta", "Se", "Bo", "Ci", "Lu", "Wa", "Ngu", "Tu")
_PLACE_MIDDLE = ("ka", "ra", "nga", "ma", "lo", "wi", "de", "ba", "ti", "ju", "se", "no")
_PLACE_END = ("rejo", "harjo", "sari", "jaya", "mulya", "pura", "kerto", "wangi", "batu", "asri")
_FIRST = (
    "Adi", "Agus", "Bayu", "Budi", "Candra", "Dedi", "Dimas", "Eko", "Fajar", "Gilang",
    "Hendra", "Iwan", "Joko", "Kurnia", "Lukman", "Made", "Nanda", "Oka", "Putu", "Rahmat",
    "Rizki", "Sandi", "Teguh", "Wahyu", "Yudi", "Ayu", "Citra", "Dewi", "Eka", "Fitri",
    "Indah", "Lestari", "Maya", "Nur", "Putri", "Rina", "Sari", "Tari", "Wulan", "Yuni",
)  # fmt: skip
_FEMALE_FIRST = frozenset(_FIRST[25:])
_SURNAME_START = ("Su", "Har", "Wi", "Pra", "Sa", "Ku", "Se", "Ra", "Han", "Mar", "Ti", "Ju")
_SURNAME_MIDDLE = ("ri", "ya", "to", "wan", "ma", "di", "sa", "na", "", "", "")
_SURNAME_END = ("yanto", "wati", "ningsih", "jaya", "putra", "sih", "man", "di", "ono", "ati")

_TOPICS = (
    "Konseling kelompok", "Edukasi adiksi", "Seminar pencegahan kekambuhan",
    "Pertemuan pagi (morning meeting)", "Kelas keterampilan", "Konseling individu",
    "Terapi okupasi", "Sesi keluarga",
)  # fmt: skip
_FOLLOW_UPS = (
    "Menyusun rancangan naskah final PKS.",
    "Mengirim data calon peserta rehabilitasi.",
    "Menyiapkan tempat pelaksanaan program.",
    "Menyampaikan daftar nama penandatangan.",
    "Menyusun jadwal asesmen terpadu.",
    "Berkoordinasi dengan Dinas Kesehatan setempat.",
)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
_DRUGS = (
    Substance.STIMULANTS, Substance.STIMULANTS, Substance.STIMULANTS, Substance.CANNABIS,
    Substance.CANNABIS, Substance.SEDATIVES, Substance.OPIOIDS, Substance.INHALANTS,
    Substance.ALCOHOL, Substance.TOBACCO,
)  # fmt: skip
_ENDINGS = (
    (Enrolment.Status.DROPPED_OUT, "Tidak lagi mengikuti kegiatan program."),
    (Enrolment.Status.RELEASED, "Bebas sebelum program selesai."),
    (Enrolment.Status.TRANSFERRED, "Dipindahkan ke UPT lain."),
    (Enrolment.Status.REFERRED, "Dirujuk ke layanan rehabilitasi lain."),
)
_TEAM = "Dokter UPT\nPsikolog BNNK\nKonselor adiksi\nPetugas pemasyarakatan"


class ScaleRefused(Exception):
    """The database already holds data, or accounts with a known password are not allowed."""


@dataclass(slots=True)
class Accounts:
    """The accounts the benchmark logs in with (see `Result.accounts_json`)."""

    password: str = SCALE_PASSWORD
    superuser: str = ""
    busy_staff: str = ""
    partner_staff: str = ""
    busy_institution_id: int = 0
    partner_institution_id: int = 0


@dataclass(slots=True)
class Result:
    """What a run made: rows per model label, the accounts, and how long it took."""

    scale: float
    seed: int
    accounts: Accounts
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def accounts_json(self) -> dict[str, Any]:
        a = self.accounts
        return {
            "password": a.password,
            "superuser": a.superuser,
            "busy_staff": a.busy_staff,
            "partner_staff": a.partner_staff,
            "busy_institution_id": a.busy_institution_id,
            "partner_institution_id": a.partner_institution_id,
            "scale": self.scale,
            "seed": self.seed,
        }


# --- progress -----------------------------------------------------------------------------


class Progress:
    """A plain-text progress bar on a stream: redrawn in place on a terminal (at most five
    times a second), one line per stage otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.stage = ""
        self.total = 1
        self.done = 0
        self.started = time.monotonic()
        self.stage_started = self.started
        self.drawn = 0.0
        self.tenth = 0

    def begin(self, stage: str, total: int) -> None:
        self.stage, self.total, self.done, self.tenth = stage, max(1, total), 0, 0
        self.stage_started = time.monotonic()
        self._draw(force=True)

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._draw()

    def end(self) -> None:
        self.done = self.total
        self._draw(force=True)
        if self.stream is not None:
            seconds = time.monotonic() - self.stage_started
            self.stream.write(f"  {seconds:6.1f} s\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not self.tty and (self.done < self.total or not force):
            # To a file or a pipe: a line at each tenth of a long stage, the bar at its end.
            tenth = 10 * self.done // self.total
            if self.done < self.total and tenth > self.tenth and now - self.stage_started > 5:
                self.tenth = tenth
                self.stream.write(f"{self.stage:<24} {tenth * 10:3d}% {self.done:>10,}\n")
                self.stream.flush()
            return
        if self.tty and not force and now - self.drawn < 0.2:
            return
        self.drawn = now
        share = min(1.0, self.done / self.total)
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        start = "\r" if self.tty else ""
        self.stream.write(f"{start}{self.stage:<24} [{bar}] {share:4.0%} {self.done:>10,}")
        self.stream.flush()


# --- writing rows in bulk -------------------------------------------------------------------


_TEXT_FIELDS = (models.CharField, models.TextField, models.FileField)


class _Table:
    """The rows of one model, buffered and written in bulk with the primary keys given.

    Rows are tuples in the order of `fields`; a concrete field not named there gets its
    (constant) default, and one without such a default is an error here, before any row is
    written: a column added to a model later either has a default or must be named."""

    def __init__(self, sink: _Sink, model: type[models.Model], fields: Sequence[str]) -> None:
        self.sink, self.model = sink, model
        meta = model._meta
        named = [cast(models.Field, meta.get_field(name)) for name in fields]
        extra: list[tuple[models.Field, Any]] = []
        for model_field in meta.concrete_fields:
            if model_field in named:
                continue
            if model_field.has_default() and not callable(model_field.default):
                extra.append((model_field, model_field.default))
            elif model_field.null:
                extra.append((model_field, None))
            elif model_field.blank and isinstance(model_field, _TEXT_FIELDS):
                extra.append((model_field, ""))
            else:
                raise RuntimeError(f"{meta.label}.{model_field.name} needs a value in seed_scale")
        self.fields = [*named, *(f for f, _ in extra)]
        self.extra = tuple(self._convert(f)(value) for f, value in extra)
        self.converters = [self._convert(f) for f in named]
        self.columns = [str(f.column) for f in self.fields]
        self.rows: list[tuple] = []
        self.count = 0
        self.next_pk = 1

    def _convert(self, model_field: models.Field) -> Callable[[Any], Any]:
        ops = connection.ops
        if isinstance(model_field, models.JSONField):
            return lambda value: json.dumps(value, ensure_ascii=False)
        if isinstance(model_field, models.DateTimeField):
            if connection.vendor == "postgresql":
                return lambda value: value
            return ops.adapt_datetimefield_value
        if isinstance(model_field, models.DateField):
            return ops.adapt_datefield_value if connection.vendor != "postgresql" else _same
        if isinstance(model_field, models.TimeField):
            return ops.adapt_timefield_value if connection.vendor != "postgresql" else _same
        return _same

    def pk(self) -> int:
        value = self.next_pk
        self.next_pk += 1
        return value

    def add(self, *values: Any) -> None:
        pairs = zip(self.converters, values, strict=True)
        row = tuple(c(v) if v is not None else None for c, v in pairs)
        self.rows.append(row + self.extra)
        if len(self.rows) >= self.sink.batch:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        self.sink.write(self, self.rows)
        self.count += len(self.rows)
        self.rows = []


def _same(value: Any) -> Any:
    return value


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


class _Sink:
    """Where the tables write: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.postgres = connection.vendor == "postgresql"
        self.batch = 50_000 if self.postgres else 5_000
        self.tables: dict[type[models.Model], _Table] = {}

    def table(self, model: type[models.Model], fields: Sequence[str]) -> _Table:
        made = _Table(self, model, fields)
        made.next_pk = (model._default_manager.aggregate(m=models.Max("pk"))["m"] or 0) + 1
        self.tables[model] = made
        return made

    def write(self, table: _Table, rows: list[tuple]) -> None:
        name = connection.ops.quote_name(table.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in table.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                buffer = io.StringIO()
                buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
                buffer.seek(0)
                raw = cursor.cursor  # the driver's cursor, under Django's wrapper
                # Names from the models' metadata, quoted; the values go in the stream.
                raw.copy_expert(f"COPY {name} ({columns}) FROM STDIN", buffer)
            else:
                marks = ", ".join("%s" for _ in table.columns)
                insert = f"INSERT INTO {name} ({columns}) VALUES ({marks})"  # noqa: S608
                cursor.executemany(insert, rows)

    def flush(self) -> None:
        for table in self.tables.values():
            table.flush()

    def reset_sequences(self) -> None:
        statements = connection.ops.sequence_reset_sql(no_style(), list(self.tables))
        if statements:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)


# --- the plan ---------------------------------------------------------------------------------


def planned_counts(scale: float) -> dict[str, int]:
    """How many of each thing `scale` asks for (proportional, with the floors)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("the scale must be a positive number")
    counts = {key: max(FLOORS[key], round(value * scale)) for key, value in NATIONAL.items()}
    counts["provinces"] = min(counts["provinces"], len(PROVINCES))
    return counts


def database_has_data() -> bool:
    """Whether any institution, agreement, participant or account exists."""
    return (
        Institution.objects.exists()
        or Agreement.objects.exists()
        or Participant.objects.exists()
        or get_user_model().objects.exists()
    )


def empty_database() -> None:
    """Delete every row of the seeded apps and every account (for `--replace`)."""
    seeded = [
        model
        for label in SEEDED_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    user_model = get_user_model()
    tables = [m._meta.db_table for m in [*seeded, user_model]]
    tables += [
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if any(
            f.is_relation and f.related_model in (user_model, *seeded)
            for f in m._meta.concrete_fields
        )
        and m._meta.db_table not in tables
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            # Deferred foreign-key checks still pending in an enclosing transaction (a seed run
            # just before, in the same transaction) would make PostgreSQL refuse the TRUNCATE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            # Back to Django's default: foreign keys checked at commit, as the bulk load needs.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute("PRAGMA defer_foreign_keys = ON")
            for table in tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608


def seed_scale(
    *,
    scale: float,
    seed: int = 1,
    append: bool = False,
    replace: bool = False,
    allow_known_password: bool = False,
    today: datetime.date | None = None,
    progress: TextIO | None = None,
    issued_files: int | None = None,
) -> Result:
    """Generate the data at `scale` (1.0: national) from `seed`; see the module's docstring.

    Refuses (ScaleRefused, before writing anything) a database that already holds data unless
    `append` (add alongside it) or `replace` (delete it first); and, with DEBUG off, refuses
    unless `allow_known_password`, since every account has the published SCALE_PASSWORD.
    """
    counts = planned_counts(scale)
    if not settings.DEBUG and not allow_known_password:
        raise ScaleRefused(
            "Refusing to create accounts with the published password "
            f"{SCALE_PASSWORD!r} while DEBUG is off."
        )
    if append and replace:
        raise ScaleRefused("Choose one of appending and replacing, not both.")
    if database_has_data() and not (append or replace):
        raise ScaleRefused(
            "The database already holds institutions, agreements, participants or accounts."
        )
    started = time.monotonic()
    bar = Progress(progress)
    if replace:
        bar.begin("emptying the database", 1)
        empty_database()
        bar.end()
    generator = _Generator(
        counts=counts,
        seed=seed,
        today=today or timezone.localdate(),
        progress=bar,
        issued_files=issued_files if issued_files is not None else (1 if scale < 0.01 else 3),
    )
    accounts = generator.run()
    rows = {t.model._meta.label: t.count for t in generator.sink.tables.values()}
    return Result(
        scale=scale,
        seed=seed,
        accounts=accounts,
        rows=rows,
        seconds=time.monotonic() - started,
    )


# --- the generator ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
    pk: int
    kind: str
    name: str
    short_name: str
    province: int
    regency: str
    weight: float = 0.0
    bnnk: int = 0  # the BNNK of its regency (correctional units)
    head: int = 0  # Person pk
    head_name: str = ""
    head_title: str = ""
    address: str = ""
    staff: list[int] = field(default_factory=list)  # Person pks
    recorder: int | None = None  # a User pk
    number_seq: int = 0


@dataclass(slots=True)
class _Prog:
    pk: int
    kind: str
    host: int
    serves: tuple[int, ...]
    opens: int  # day ordinals: launch ..
    closes: int  # .. last day it takes participants (agreement end or today)
    phases: tuple[tuple[int, int], ...]  # (phase pk, planned weeks)
    starts: array = field(default_factory=lambda: array("l"))
    ends: array = field(default_factory=lambda: array("l"))
    recent: list[tuple[int, int, int]] = field(default_factory=list)  # enrolment, from, to


def _roman(month: int) -> str:
    return _ROMAN[month - 1]


class _Generator:
    def __init__(
        self,
        *,
        counts: dict[str, int],
        seed: int,
        today: datetime.date,
        progress: Progress,
        issued_files: int,
    ) -> None:
        self.counts = counts
        self.seed = seed
        self.today = today
        self.progress = progress
        self.issued_files = issued_files
        self.sink = _Sink(progress)
        offset = Institution.objects.aggregate(m=models.Max("pk"))["m"] or 0
        # On an empty database the seed alone decides; appending mixes in what is there, so
        # that the same seed twice does not make the same names and codes twice.
        self.rng = random.Random(seed * 1_000_003 + offset)
        self.first_day = today - datetime.timedelta(days=365 * YEARS)
        self.now = timezone.now()
        self.taken_names = set(Institution.objects.values_list("name", flat=True))
        self.taken_users = set(get_user_model().objects.values_list("username", flat=True))
        self.units: list[_Unit] = []
        self.by_kind: dict[str, list[_Unit]] = {}
        self.programmes: list[_Prog] = []
        self.signed: list[tuple[int, datetime.date, datetime.date | None, tuple[int, ...]]] = []
        self.author = 0
        self.nips: dict[int, str] = {}
        self._open: list[tuple[int, datetime.date, datetime.date, tuple[int, ...]]] = []
        self._events: dict[tuple[int, datetime.date], int] = {}

    # -- helpers --

    def _at(
        self, day: datetime.date, hour: int = 9, minute: int | None = None
    ) -> datetime.datetime:
        if minute is None:
            minute = self.rng.randrange(60)
        moment = datetime.datetime.combine(day, datetime.time(hour, minute))
        return timezone.make_aware(moment, datetime.UTC) if settings.USE_TZ else moment

    def _day(self, start: datetime.date, end: datetime.date) -> datetime.date:
        span = (end - start).days
        return start + datetime.timedelta(days=self.rng.randint(0, max(0, span)))

    def _place(self) -> str:
        r = self.rng
        return r.choice(_PLACE_START) + r.choice(_PLACE_MIDDLE) + r.choice(_PLACE_END)

    def _person_name(self, female: bool | None = None) -> tuple[str, str]:
        r = self.rng
        first = r.choice(_FIRST)
        sex = "f" if first in _FEMALE_FIRST else "m"
        surname = r.choice(_SURNAME_START) + r.choice(_SURNAME_MIDDLE) + r.choice(_SURNAME_END)
        return f"{first} {surname.capitalize()}", sex

    def _unique_name(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken_names:
            candidate, n = f"{name} {n}", n + 1
        self.taken_names.add(candidate)
        return candidate

    def _username(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken_users:
            candidate, n = f"{name}{n}", n + 1
        self.taken_users.add(candidate)
        return candidate

    def _zipf(self, items: Sequence[_Unit]) -> None:
        order = list(items)
        self.rng.shuffle(order)
        for rank, unit in enumerate(order, start=1):
            unit.weight = 1.0 / (rank + 10)
        # The unit the benchmark's busy staff work at is clearly the busiest.
        order[0].weight *= 2

    def _stage(self, name: str, total: int) -> None:
        self.progress.begin(name, total)

    # -- the run --

    def run(self) -> Accounts:
        with transaction.atomic():
            self._institutions()
            self._accounts()
            self.sink.flush()
        with transaction.atomic():
            self._agreements()
            self._meetings()
            self.sink.flush()
        with transaction.atomic():
            self._programmes()
            self.sink.flush()
        self._participants()
        with transaction.atomic():
            self._capacities()
            self._sessions()
            self.sink.flush()
            self.sink.reset_sequences()
        self._issued_files()
        return self.accounts

    # -- institutions, people, accounts --

    def _institutions(self) -> None:
        c, r = self.counts, self.rng
        t_inst = self.sink.table(
            Institution,
            ["id", "kind", "grade", "name", "short_name", "regency", "province", "address"],
        )
        t_person = self.sink.table(Person, ["id", "full_name", "nip"])
        t_pos = self.sink.table(Position, ["id", "person", "institution", "title", "start_date"])
        self.t_inst, self.t_person, self.t_pos = t_inst, t_person, t_pos
        provinces = list(PROVINCES[: c["provinces"]])
        self._stage("institutions", sum(c[k] for k in ("bnnk", "rutan", "lapas", "lpka")))
        nip_seq = itertools.count(Person.objects.count() + 1)

        def unit(kind: str, grade: str, name: str, short: str, prov: int, regency: str) -> _Unit:
            made = _Unit(
                pk=t_inst.pk(),
                kind=kind,
                name=self._unique_name(name),
                short_name=short,
                province=prov,
                regency=regency,
            )
            made.address = f"Jl. {self._place()} No. {r.randint(1, 200)}, {regency}"
            t_inst.add(
                made.pk, kind, grade, made.name, short, regency, provinces[prov], made.address
            )
            head_name, _ = self._person_name()
            made.head_name = head_name
            made.head = t_person.pk()
            birth = self._day(datetime.date(1965, 1, 1), datetime.date(1985, 12, 31))
            nip = f"{birth:%Y%m%d}{r.randint(1990, 2015)}{r.randint(1, 12):02d}1{next(nip_seq):03d}"
            t_person.add(made.head, head_name, nip[:18])
            self.nips[made.head] = nip[:18]
            made.head_title = f"Kepala {made.name}"
            t_pos.add(t_pos.pk(), made.head, made.pk, made.head_title, None)
            for title in ("Kepala Seksi", "Staf Pelaksana", "Konselor"):
                person = t_person.pk()
                t_person.add(person, self._person_name()[0], "")
                t_pos.add(t_pos.pk(), person, made.pk, f"{title} {short}", None)
                made.staff.append(person)
            self.units.append(made)
            self.by_kind.setdefault(kind, []).append(made)
            return made

        unit("bnn", "", "Badan Narkotika Nasional", "BNN RI", 0, "Jakarta Timur")
        regencies: dict[int, list[tuple[str, _Unit]]] = {p: [] for p in range(len(provinces))}
        for p, province in enumerate(provinces):
            capital = f"Kota {self._place().capitalize()}"
            unit("bnnp", "", f"Badan Narkotika Nasional Provinsi {province}",
                 f"BNNP {province}", p, capital)  # fmt: skip
            unit("kanwil", "", f"Kantor Wilayah Direktorat Jenderal Pemasyarakatan {province}",
                 f"Kanwil Ditjenpas {province}", p, capital)  # fmt: skip
        for i in range(c["bnnk"]):
            p = i % len(provinces)
            place = self._place().capitalize()
            regency = f"Kabupaten {place}"
            made = unit("bnnk", "", f"Badan Narkotika Nasional Kabupaten {place}",
                        f"BNNK {place}", p, regency)  # fmt: skip
            regencies[p].append((regency, made))
            self.progress.advance()
        labels = {"rutan": ("Rumah Tahanan Negara", "Rutan"),
                  "lapas": ("Lembaga Pemasyarakatan", "Lapas"),
                  "lpka": ("Lembaga Pembinaan Khusus Anak", "LPKA")}  # fmt: skip
        for kind in ("rutan", "lapas", "lpka"):
            long, short = labels[kind]
            for _i in range(c[kind]):
                p = r.randrange(len(provinces))
                regency, bnnk = r.choice(regencies[p] or regencies[0])
                place = regency.removeprefix("Kabupaten ")
                grade = r.choice(("I", "IIA", "IIB", "IIB")) if kind != "lpka" else "I"
                made = unit(kind, grade, f"{long} Kelas {grade} {place}", f"{short} {place}",
                            p, regency)  # fmt: skip
                made.bnnk = bnnk.pk
                self.progress.advance()
        for _i in range(c["other"]):
            p = r.randrange(len(provinces))
            place = self._place().capitalize()
            unit("other", "", f"Dinas Kesehatan Kabupaten {place}", f"Dinkes {place}", p,
                 f"Kabupaten {place}")  # fmt: skip
        self.correctional = [u for k in ("rutan", "lapas", "lpka") for u in self.by_kind[k]]
        self._zipf(self.correctional)
        self.correctional.sort(key=lambda u: -u.weight)
        self.busiest = self.correctional[0]
        self.unit_by_pk = {u.pk: u for u in self.units}
        self.progress.end()

    def _accounts(self) -> None:
        user_model = get_user_model()
        t_user = self.sink.table(
            user_model,
            ["id", "password", "username", "first_name", "last_name", "email", "is_superuser",
             "is_staff", "is_active", "date_joined", "last_login"],
        )  # fmt: skip
        t_member = self.sink.table(Membership, ["id", "user", "institution", "role"])
        self._stage("accounts", self.counts["staff"])
        password = make_password(SCALE_PASSWORD)  # hashed once: every account shares it
        joined = self._at(self.first_day)
        R = Membership.Role

        def user(username: str, *, superuser: bool = False, active: bool = True) -> int:
            pk = t_user.pk()
            first, _sex = self._person_name()
            t_user.add(pk, password if active else "!", self._username(username),
                       first.split()[0], first.split()[1], "", superuser, superuser, active,
                       joined, None)  # fmt: skip
            self.progress.advance()
            return pk

        accounts = Accounts()
        self.author = user("scale.data", superuser=True, active=False)
        admin = user("scale.admin", superuser=True)
        accounts.superuser = self.sink.tables[user_model].rows[-1][2]
        busy = user("scale.busy")
        accounts.busy_staff = t_user.rows[-1][2]
        bnnk = self.unit_by_pk[self.busiest.bnnk]
        partner = user("scale.partner")
        accounts.partner_staff = t_user.rows[-1][2]
        accounts.busy_institution_id = self.busiest.pk
        accounts.partner_institution_id = bnnk.pk
        del admin
        for role in (R.EDITOR, R.PROGRAMME):
            t_member.add(t_member.pk(), busy, self.busiest.pk, role)
            t_member.add(t_member.pk(), partner, bnnk.pk, role)
        self.busiest.recorder, bnnk.recorder = busy, partner
        # The others: staff of the busiest units first, then BNNK and offices.
        ranked = [*self.correctional, *self.by_kind["bnnk"], *self.by_kind["bnnp"],
                  *self.by_kind["kanwil"]]  # fmt: skip
        made = 4
        for n, target in enumerate(itertools.cycle(ranked)):
            if made >= self.counts["staff"]:
                break
            pk = user(f"staf.{target.pk}.{n // len(ranked) + 1}")
            made += 1
            roles = [R.EDITOR, R.PROGRAMME] if n % 3 else [R.ADMIN]
            if n % 7 == 6:
                roles = [R.VIEWER]
            for role in roles:
                t_member.add(t_member.pk(), pk, target.pk, role)
            if target.recorder is None and R.PROGRAMME in roles:
                target.recorder = pk
        self.accounts = accounts
        self.progress.end()

    # -- agreements --

    def _agreements(self) -> None:
        c, r = self.counts, self.rng
        s = self.sink
        self.t_agr = s.table(
            Agreement,
            ["id", "kind", "title", "subject", "status", "parent", "considerations",
             "legal_basis", "term_months", "effective_date", "end_date", "notice_days",
             "notice_from", "signed_on", "signing_place", "signing_event", "terminated_on",
             "termination_reason", "created_at", "updated_at", "version"],
        )  # fmt: skip
        self.t_party = s.table(
            Party,
            ["id", "agreement", "institution", "order", "number", "signatory",
             "signatory_position", "frozen_at", "frozen_institution_name",
             "frozen_institution_short_name", "frozen_institution_kind",
             "frozen_institution_address", "frozen_signatory_name", "frozen_signatory_nip"],
        )  # fmt: skip
        self.t_article = s.table(Article, ["id", "agreement", "number", "heading", "body"])
        self.t_change = s.table(
            StatusChange,
            ["id", "agreement", "from_status", "to_status", "changed_by", "changed_at", "reason"],
        )
        self.t_event = s.table(SigningEvent, ["id", "date", "start_time", "venue", "host", "notes"])
        self.t_issued = s.table(
            IssuedDocument,
            ["id", "agreement", "file", "sha256", "size", "verification_code",
             "digitally_signed", "issued_at"],
        )  # fmt: skip
        self._stage("agreements", c["agreements"])
        # First one signed PKS for each unit that will host programmes (with its BNNK), so
        # that every programme has an agreement in force to run under; the rest at random.
        hosts = self._programme_hosts()
        self.host_agreements: dict[int, list[tuple[int, datetime.date, datetime.date]]] = {}
        total = c["agreements"]
        made = 0
        for host in hosts:
            if made >= total:
                break
            unit = self.unit_by_pk[host]
            # Early in the period, for six years: most are still in force today.
            signed = self._day(self.first_day, self.first_day + datetime.timedelta(days=365))
            pk = self._agreement([unit, self.unit_by_pk[unit.bnnk]], status="signed",
                                 signed=signed, term=72)  # fmt: skip
            self.host_agreements.setdefault(host, []).append(self._signed_span(pk))
            made += 1
        weights = list(itertools.accumulate(u.weight for u in self.correctional))
        others = [*self.by_kind["bnnp"], *self.by_kind["kanwil"], *self.by_kind["other"]]
        while made < total:
            unit = self.correctional[bisect.bisect(weights, r.random() * weights[-1])]
            parties = [unit, self.unit_by_pk[unit.bnnk]]
            for _extra in range(r.choice((0, 0, 1, 2))):
                pool = others if r.random() < 0.5 else self.correctional
                candidate = r.choice(pool)
                if candidate not in parties:
                    parties.append(candidate)
            r.shuffle(parties)
            roll = r.random()
            status = (
                "draft" if roll < 0.07 else "discussion" if roll < 0.17
                else "ready" if roll < 0.22 else "terminated" if roll < 0.25 else "signed"
            )  # fmt: skip
            pk = self._agreement(parties, status=status)
            if status == "signed" and unit.pk in self.host_agreements:
                self.host_agreements[unit.pk].append(self._signed_span(pk))
            made += 1
        self._addenda()
        s.flush()
        self.progress.end()

    def _signed_span(self, pk: int) -> tuple[int, datetime.date, datetime.date]:
        _pk, signed, end, _parties = self.signed[-1]
        assert _pk == pk and end is not None
        return pk, signed, end

    def _programme_hosts(self) -> list[int]:
        """The units that host programmes, by weight: each unit one (while there are enough
        programmes), the rest to the busy ones."""
        n = self.counts["programmes"]
        units = self.correctional
        hosts = [u.pk for u in units[:n]]
        self.programme_hosts = list(hosts)
        weights = list(itertools.accumulate(u.weight for u in units))
        for _i in range(n - len(hosts)):
            self.programme_hosts.append(
                units[bisect.bisect(weights, self.rng.random() * weights[-1])].pk
            )
        return hosts

    def _agreement(
        self,
        parties: list[_Unit],
        *,
        status: str,
        signed: datetime.date | None = None,
        term: int | None = None,
        kind: str = "pks",
        parent: int | None = None,
        not_before: datetime.date | None = None,
    ) -> int:
        r = self.rng
        pk = self.t_agr.pk()
        term = term or r.choice((12, 24, 24, 36, 60))
        subject_words = r.choice((
            "Pencegahan dan Pemberantasan Penyalahgunaan dan Peredaran Gelap Narkotika serta "
            "Rehabilitasi bagi Tahanan dan Narapidana",
            "Pelaksanaan Rehabilitasi Sosial bagi Warga Binaan Pemasyarakatan",
            "Layanan Rehabilitasi Medis dan Asesmen Terpadu",
            "Penyelenggaraan Program Pascarehabilitasi",
        ))  # fmt: skip
        host = parties[0]
        if signed is None and status in ("signed", "terminated"):
            signed = self._day(self.first_day + datetime.timedelta(days=90), self.today)
        created = signed or self._day(self.today - datetime.timedelta(days=300), self.today)
        created -= datetime.timedelta(days=r.randint(20, 120))
        created = max(created, not_before or self.first_day)
        effective = end = notice = terminated = None
        event = None
        if signed is not None:
            effective = signed
            end = _end_of_term(signed, term)
            notice = end - datetime.timedelta(days=90)
            event = self._signing_event(signed, parties)
            if status == "terminated":
                terminated = self._day(signed, min(end, self.today))
        title = f"PKS {subject_words.split(' serta ')[0][:60]} {host.short_name}"
        if kind == "addendum":
            title = f"Addendum {title}"
        last = terminated or signed or created
        self.t_agr.add(
            pk, kind, title[:255], subject_words, status, parent, STANDARD_CONSIDERATIONS,
            STANDARD_LEGAL_BASIS, term if kind != "addendum" else None, effective, end, 90,
            notice, signed, host.regency if signed else "", event, terminated,
            "Kerja sama dihentikan atas kesepakatan PARA PIHAK." if terminated else "",
            self._at(created), self._at(last, 15), 1,
        )  # fmt: skip
        year = (signed or created).year
        month = (signed or created).month
        for order, unit in enumerate(parties, start=1):
            unit.number_seq += 1
            number = (
                f"PKS/{unit.number_seq:05d}/{_roman(month)}/{year}/{unit.pk}"
                if status != "draft" or r.random() < 0.5
                else ""
            )
            frozen = signed is not None
            self.t_party.add(
                self.t_party.pk(), pk, unit.pk, order, number,
                unit.head if status != "draft" else None,
                unit.head_title if status != "draft" else "",
                self._at(signed) if signed is not None else None,
                unit.name if frozen else "", unit.short_name if frozen else "",
                unit.kind if frozen else "",
                unit.address if frozen else "", unit.head_name if frozen else "",
                self.nips[unit.head] if frozen else "",
            )  # fmt: skip
        if kind != "addendum":
            for article_number, article in enumerate(STANDARD_ARTICLES, start=1):
                self.t_article.add(
                    self.t_article.pk(), pk, article_number, article.heading, article.render(term)
                )
        else:
            self.t_article.add(self.t_article.pk(), pk, 1, "Perubahan",
                               "Ketentuan Pasal 6 diubah sehingga berbunyi sebagai berikut.",
                               )  # fmt: skip
        self._status_history(pk, status, created, signed, terminated, event)
        if signed is not None:
            self.signed.append((pk, signed, end, tuple(u.pk for u in parties)))
            self._issue(pk, signed)
        elif status in ("discussion", "ready"):
            ahead = self.today + datetime.timedelta(days=30)
            self._open.append((pk, created, ahead, tuple(u.pk for u in parties)))
        self.progress.advance()
        return pk

    def _status_history(
        self,
        pk: int,
        status: str,
        created: datetime.date,
        signed: datetime.date | None,
        terminated: datetime.date | None,
        event: int | None,
    ) -> None:
        path = ["draft", "discussion", "ready", "signed", "terminated"]
        steps = path[: path.index(status) + 1]
        last_day = signed or self.today
        moments = sorted(self._day(created, last_day) for _ in range(len(steps) - 1))
        if signed is not None:
            moments[path.index("signed") - 1] = signed
        if terminated is not None:
            moments[-1] = terminated
        moments = sorted(moments)
        add = self.t_change.add
        add(self.t_change.pk(), pk, "draft", "draft", self.author, self._at(created, 8), "Created")
        moves = zip(itertools.pairwise(steps), moments, strict=True)
        for index, ((before, after), day) in enumerate(moves):
            reason = (
                f"Penandatanganan (acara {event})" if after == "signed"
                else "Dihentikan atas kesepakatan PARA PIHAK." if after == "terminated" else ""
            )  # fmt: skip
            # One move an hour on a day with several: their order is their time.
            moment = self._at(day, 10 + index, 0)
            add(self.t_change.pk(), pk, before, after, self.author, moment, reason)

    def _signing_event(self, day: datetime.date, parties: list[_Unit]) -> int:
        # Agreements signed the same day at the same host share a ceremony.
        key = (parties[0].pk, day)
        cache = self._events
        if key in cache:
            return cache[key]
        pk = self.t_event.pk()
        self.t_event.add(pk, day, datetime.time(9, 0), f"Aula {parties[0].short_name}",
                         parties[0].pk, "Penandatanganan Perjanjian Kerja Sama.")  # fmt: skip
        cache[key] = pk
        return pk

    def _issue(self, agreement: int, signed: datetime.date) -> None:
        code = "".join(self.rng.choices(VERIFICATION_ALPHABET, k=VERIFICATION_CODE_LENGTH))
        # The file, hash and size are filled in by `_issued_files` once a few are rendered.
        self.t_issued.add(self.t_issued.pk(), agreement, "", "0" * 64, 0, code, False,
                          self._at(signed, 11))  # fmt: skip

    def _addenda(self) -> None:
        """Some signed agreements in force are amended: an addendum between the same parties."""
        r = self.rng
        in_force = [a for a in self.signed if a[2] and a[2] > self.today]
        for pk, signed, _end, parties in r.sample(in_force, k=len(in_force) // 25):
            units = [self.unit_by_pk[p] for p in parties]
            draft = r.random() < 0.5
            day = self._day(signed + datetime.timedelta(days=30), self.today)
            if day > self.today:
                continue
            self._agreement(units, status="discussion" if draft else "signed",
                            signed=None if draft else day, kind="addendum", parent=pk,
                            not_before=signed)  # fmt: skip

    # -- meetings --

    def _meetings(self) -> None:
        c, r = self.counts, self.rng
        t_meeting = self.sink.table(
            Meeting,
            ["id", "agreement", "date", "start_time", "end_time", "venue", "host", "agenda",
             "minutes", "decisions"],
        )  # fmt: skip
        t_att = self.sink.table(Attendee, ["id", "meeting", "person", "institution", "position"])
        t_fu = self.sink.table(FollowUp, ["id", "meeting", "description", "owner", "due_date",
                                          "done_on"])  # fmt: skip
        self._stage("meetings", c["meetings"])
        # Meetings of signed agreements fall before the signing; of open ones, in the last year.
        candidates = [(pk, signed - datetime.timedelta(days=120), signed, parties)
                      for pk, signed, _end, parties in self.signed]  # fmt: skip
        candidates += self.open_agreements()
        for n in range(c["meetings"]):
            pk, start, stop, parties = (
                candidates[n % len(candidates)] if n < len(candidates) else r.choice(candidates)
            )
            day = self._day(max(start, self.first_day), stop)
            host = self.unit_by_pk[r.choice(parties)]
            meeting = t_meeting.pk()
            end = r.choice((None, datetime.time(12, 0), datetime.time(15, 30)))
            past = day < self.today
            t_meeting.add(meeting, pk, day, datetime.time(9, 0), end, f"Kantor {host.short_name}",
                          host.pk, "1. Pembahasan rancangan PKS.\n2. Rencana tindak lanjut.",
                          "Pembahasan berjalan lancar." if past else "",
                          "Melanjutkan ke penandatanganan." if past else "")  # fmt: skip
            for party in parties:
                unit = self.unit_by_pk[party]
                for person in r.sample(unit.staff, k=r.randint(1, 2)):
                    t_att.add(t_att.pk(), meeting, person, party, "Perwakilan")
            for _f in range(r.choice((0, 1, 1, 2, 3))):
                due = day + datetime.timedelta(days=r.randint(7, 60))
                done = None
                if due < self.today and r.random() < 0.8:
                    done = min(self.today, due + datetime.timedelta(days=r.randint(-5, 10)))
                    done = max(done, day)
                t_fu.add(t_fu.pk(), meeting, r.choice(_FOLLOW_UPS), r.choice(parties), due, done)
            self.progress.advance()
        self.progress.end()

    def open_agreements(self) -> list[tuple[int, datetime.date, datetime.date, tuple[int, ...]]]:
        """Agreements in discussion or ready: their meetings fall from their creation to a few
        weeks ahead (a meeting may be scheduled)."""
        return self._open

    # -- programmes --

    def _programmes(self) -> None:
        r = self.rng
        t_prog = self.sink.table(
            Programme,
            ["id", "name", "kind", "host", "agreement", "launch_date", "launch_event",
             "capacity", "description"],
        )  # fmt: skip
        t_phase = self.sink.table(Phase, ["id", "programme", "order", "name", "planned_weeks"])
        t_partners = self.sink.table(Programme.partners.through, ["id", "programme", "institution"])
        self.t_prog = t_prog
        self._stage("programmes", len(self.programme_hosts))
        kinds = ("social", "social", "medical", "post")
        by_province: dict[int, list[_Unit]] = {}
        for unit in self.correctional:
            by_province.setdefault(unit.province, []).append(unit)
        self.serving: dict[int, list[_Prog]] = {}
        for host_pk in self.programme_hosts:
            host = self.unit_by_pk[host_pk]
            agreement, signed, end = r.choice(self.host_agreements[host_pk])
            pk = t_prog.pk()
            kind = r.choice(kinds)
            launch = signed
            label = {"social": "Rehabilitasi Sosial", "medical": "Rehabilitasi Medis",
                     "post": "Pascarehabilitasi"}[kind]  # fmt: skip
            t_prog.add(pk, f"Program {label} {host.short_name} {launch.year} #{pk}", kind,
                       host_pk, agreement, launch, None, None, "")  # fmt: skip
            partners = [host.bnnk]
            neighbours = [u for u in by_province[host.province] if u.pk != host_pk]
            if neighbours and r.random() < 0.3:
                partners.append(r.choice(neighbours).pk)
            for partner in partners:
                t_partners.add(t_partners.pk(), pk, partner)
            phases = []
            for order, (name, weeks) in enumerate(STANDARD_PHASES, start=1):
                phase = t_phase.pk()
                t_phase.add(phase, pk, order, name, weeks)
                phases.append((phase, weeks))
            prog = _Prog(
                pk=pk,
                kind=kind,
                host=host_pk,
                serves=(host_pk, *partners),
                opens=launch.toordinal(),
                closes=min(end, self.today).toordinal(),
                phases=tuple(phases),
            )
            self.programmes.append(prog)
            for unit_pk in prog.serves:
                self.serving.setdefault(unit_pk, []).append(prog)
            self.progress.advance()
        self.progress.end()

    # -- participants and enrolments --

    def _participants(self) -> None:
        c, r = self.counts, self.rng
        s = self.sink
        t_part = s.table(
            Participant,
            ["id", "institution", "register_number", "full_name", "status", "sex", "birth_date",
             "case_article", "substances", "use_duration_months", "route", "created_at"],
        )  # fmt: skip
        t_enr = s.table(
            Enrolment,
            ["id", "participant", "programme", "status", "start_date", "enrolled_on",
             "end_date", "end_reason", "current_phase", "recovered", "skilled", "independent"],
        )  # fmt: skip
        t_ev = s.table(EnrolmentEvent, ["id", "enrolment", "from_status", "to_status", "date",
                                        "reason", "recorded_by", "recorded_at"])  # fmt: skip
        t_ep = s.table(EnrolmentPhase, ["id", "enrolment", "phase", "start_date", "end_date"])
        t_scr = s.table(Screening, ["id", "participant", "enrolment", "date", "screened_by",
                                    "notes"])  # fmt: skip
        t_score = s.table(ScreeningScore, ["id", "screening", "substance", "score", "risk"])
        t_ass = s.table(Assessment, ["id", "enrolment", "date", "team", "recommendation",
                                     "notes", "recorded_by"])  # fmt: skip
        t_log = s.table(AccessLog, ["id", "user", "participant", "institution", "action",
                                    "detail", "path", "reason", "record_count", "at"])  # fmt: skip
        self.t_enr = t_enr
        # Participants are held where some programme runs, by the units' weights.
        holders = [u for u in self.correctional if u.pk in self.serving]
        weights = list(itertools.accumulate(u.weight for u in holders))
        n_people, n_enrol = c["participants"], c["enrolments"]
        self._stage("participants, enrolments", n_people)
        enrolments_made = 0
        chunk = 20_000
        today_ord = self.today.toordinal()
        first_ord = self.first_day.toordinal()
        for start in range(0, n_people, chunk):
            with transaction.atomic():
                for _i in range(start, min(n_people, start + chunk)):
                    unit = holders[bisect.bisect(weights, r.random() * weights[-1])]
                    unit.number_seq += 1
                    pk = t_part.pk()
                    name, sex = self._person_name()
                    minor = unit.kind == "lpka"
                    arrival = r.randint(first_ord, today_ord - 7)
                    age = r.randint(14, 17) if minor else r.randint(19, 58)
                    birth = datetime.date.fromordinal(
                        max(1, today_ord - age * 365 - r.randint(0, 364))
                    )
                    status = "narapidana" if r.random() < 0.7 else "tahanan"
                    arrival_day = datetime.date.fromordinal(arrival)
                    prefix = "B.I" if status == "narapidana" else "A.II"
                    register = f"{prefix}-{unit.number_seq:05d}/{arrival_day.year}"
                    drugs = sorted(set(r.sample(_DRUGS, k=r.choice((1, 1, 2)))))
                    recorder = unit.recorder or self.author
                    t_part.add(pk, unit.pk, register, name, status, sex, birth,
                               "Pasal 127 UU 35/2009", drugs, r.randint(3, 120),
                               r.choice(("smoked", "smoked", "oral", "snorted", "injected")),
                               self._at(arrival_day, 8))  # fmt: skip
                    t_log.add(t_log.pk(), recorder, pk, unit.pk, "change",
                              "participant created", "", "", 1, self._at(arrival_day, 8),
                              )  # fmt: skip
                    # One enrolment after another, as many as the time since arrival and the
                    # programmes there allow (about 3.3 each on average), until the plan's total.
                    k = 8 if enrolments_made < n_enrol else 0
                    day = arrival + r.randint(1, 30)
                    programmes = list(self.serving[unit.pk])
                    r.shuffle(programmes)
                    for _k in range(k):
                        # The programme open that day, else the next one to open.
                        open_now = [p for p in programmes if p.opens <= day <= p.closes]
                        later = [p for p in programmes if day < p.opens <= today_ord]
                        if open_now:
                            prog = open_now[0]
                        elif later:
                            prog = min(later, key=lambda p: p.opens)
                            day = min(prog.closes, prog.opens + r.randint(0, 30))
                        else:
                            break
                        if day > today_ord:
                            break
                        programmes.remove(prog)
                        ended = self._enrolment(
                            prog, pk, unit, drugs, day, recorder,
                            t_enr, t_ev, t_ep, t_scr, t_score, t_ass, t_log,
                        )  # fmt: skip
                        enrolments_made += 1
                        if ended is None:
                            break
                        day = ended + r.randint(7, 60)
                    self.progress.advance()
                s.flush()
        self.progress.end()

    def _enrolment(
        self,
        prog: _Prog,
        participant: int,
        unit: _Unit,
        drugs: Sequence[str],
        day: int,
        recorder: int,
        t_enr: _Table,
        t_ev: _Table,
        t_ep: _Table,
        t_scr: _Table,
        t_score: _Table,
        t_ass: _Table,
        t_log: _Table,
    ) -> int | None:
        """One enrolment from its intake screening on `day` as far as today allows; returns
        the day it ended, or None if it is still under way or ended in a transfer."""
        r = self.rng
        S = Enrolment.Status
        today = self.today.toordinal()
        pk = t_enr.pk()
        date = datetime.date.fromordinal
        events: list[tuple[str, str, int, str]] = [("", S.SCREENED, day, "")]
        phases: list[tuple[int, int, int | None]] = []
        status: str = S.SCREENED
        enrolled_on, end, end_reason, current = None, None, "", None
        outcome: tuple[bool | None, bool | None, bool | None] = (None, None, None)
        # Intake: a score per substance used; most score moderate or high.
        eligible = r.random() < 0.88
        scores = {
            drug: (
                r.randint(11 if drug == "alcohol" else 4, 39)
                if eligible
                else r.randint(0, 10 if drug == "alcohol" else 3)
            )
            for drug in drugs
        }
        screening = t_scr.pk()
        t_scr.add(screening, participant, pk, date(day), recorder, "")
        for drug, score in sorted(scores.items()):
            t_score.add(t_score.pk(), screening, drug, score, risk_band(drug, score))
        t_log.add(t_log.pk(), recorder, participant, unit.pk, "change",
                  f"enrolment {pk}: screened", "", "", 1, self._at(date(day), 10))  # fmt: skip

        def move(to: str, when: int, reason: str = "") -> bool:
            nonlocal status
            if when > today:
                return False
            events.append((status, to, when, reason))
            status = to
            return True

        at = day
        if not eligible:
            if move(S.REFERRED, at + r.randint(1, 7), "Risiko rendah: edukasi saja."):
                end, end_reason = events[-1][2], events[-1][3]
        else:
            at += r.randint(2, 10)
            recommendation = {"medical": "medical", "post": "social"}.get(prog.kind, "social")
            if r.random() < 0.04:
                recommendation = "none"
            if move(S.ASSESSED, at):
                t_ass.add(t_ass.pk(), pk, date(at), _TEAM, recommendation, "", recorder)
                at += r.randint(3, 14)
                if recommendation == "none":
                    if move(S.REFERRED, at, "Asesmen: tidak direkomendasikan rehabilitasi."):
                        end, end_reason = at, events[-1][3]
                elif at > prog.closes:
                    # The agreement ended meanwhile: the programme takes nobody new.
                    if move(S.REFERRED, at, "Program tidak lagi menerima peserta baru."):
                        end, end_reason = at, events[-1][3]
                elif move(S.ENROLLED, at):
                    enrolled_on = at
                    ending = None
                    roll = r.random()
                    if roll < 0.30:
                        ending = r.choice(_ENDINGS)
                    for index, (phase, weeks) in enumerate(prog.phases):
                        if index and ending and r.random() < 0.5:
                            break
                        if not move(S.IN_PHASE, at, f"{index + 1}. {STANDARD_PHASES[index][0]}"):
                            break
                        if phases:
                            phases[-1] = (phases[-1][0], phases[-1][1], at)
                        phases.append((phase, at, None))
                        current = phase
                        at += weeks * 7 + r.randint(-3, 7)
                    else:
                        ending = ending or (S.COMPLETED, "")
                    if status == S.IN_PHASE and ending and at <= today:
                        to, reason = ending
                        if to != S.COMPLETED:
                            at = phases[-1][1] + r.randint(1, 60)
                            at = min(at, today)
                        move(to, at, reason)
                        phases[-1] = (phases[-1][0], phases[-1][1], at)
                        end, end_reason, current = at, reason, None
                        if to == S.COMPLETED:
                            recovered = r.random() < 0.7
                            outcome = (recovered, r.random() < 0.8, r.random() < 0.6)
                        # The re-screen at three months, for those still there then.
                        if at - enrolled_on > 90:
                            self._rescreen(t_scr, t_score, participant, pk,
                                           enrolled_on + 90, drugs, recorder)  # fmt: skip
        if status in Enrolment.ACTIVE_STATUSES:
            when = enrolled_on or day
            prog.starts.append(when)
            prog.ends.append(today + 1)
            self._track_recent(prog, pk, when, today)
        elif enrolled_on is not None and end is not None:
            prog.starts.append(enrolled_on)
            prog.ends.append(end)
            self._track_recent(prog, pk, enrolled_on, end)
        t_enr.add(
            pk, participant, prog.pk, status, date(day),
            date(enrolled_on) if enrolled_on else None, date(end) if end else None,
            end_reason, current, *outcome,
        )  # fmt: skip
        for minute, (from_status, to_status, when, why) in enumerate(events):
            t_ev.add(t_ev.pk(), pk, from_status, to_status, date(when), why, recorder,
                     self._at(date(when), 14, minute))  # fmt: skip
        for phase, start, stop in phases:
            t_ep.add(t_ep.pk(), pk, phase, date(start), date(stop) if stop else None)
        # Nothing follows an enrolment still under way, nor a transfer to another unit.
        if status in (S.SCREENED, S.ASSESSED, S.TRANSFERRED, *Enrolment.ACTIVE_STATUSES):
            return None
        return end

    def _rescreen(self, t_scr, t_score, participant, enrolment, day, drugs, recorder) -> None:
        r = self.rng
        screening = t_scr.pk()
        when = datetime.date.fromordinal(day)
        t_scr.add(screening, participant, enrolment, when, recorder, "Skrining ulang 3 bulan")
        for drug in sorted(drugs):
            score = r.randint(0, 26)
            t_score.add(t_score.pk(), screening, drug, score, risk_band(drug, score))

    def _track_recent(self, prog: _Prog, enrolment: int, start: int, stop: int) -> None:
        window = self.today.toordinal() - SESSION_WEEKS * 7
        if stop >= window:
            prog.recent.append((enrolment, start, stop))

    def _capacities(self) -> None:
        """A capacity for most programmes: at least the most ever active at once."""
        r = self.rng
        self._stage("capacities", len(self.programmes))
        updates = []
        for prog in self.programmes:
            if r.random() < 0.3:
                self.progress.advance()
                continue
            points = sorted([(d, 1) for d in prog.starts] + [(d, -1) for d in prog.ends],
                            key=lambda p: (p[0], p[1]))  # fmt: skip
            peak = now = 0
            for _d, step in points:
                now += step
                peak = max(peak, now)
            updates.append((max(20, math.ceil(peak * 1.1 / 5) * 5), prog.pk))
            self.progress.advance()
        by_capacity: dict[int, list[int]] = defaultdict(list)
        for capacity, pk in updates:
            by_capacity[capacity].append(pk)
        for capacity, pks in by_capacity.items():
            Programme.objects.filter(pk__in=pks).update(capacity=capacity)
        self.progress.end()

    def _sessions(self) -> None:
        r = self.rng
        t_ses = self.sink.table(Session, ["id", "programme", "date", "topic", "phase",
                                          "facilitator"])  # fmt: skip
        t_att = self.sink.table(Attendance, ["id", "session", "enrolment", "status"])
        self._stage("sessions, attendance", len(self.programmes))
        today = self.today.toordinal()
        for prog in self.programmes:
            for week in range(SESSION_WEEKS, 0, -1):
                day = today - week * 7 + r.randint(0, 4)
                if day < prog.opens:
                    continue
                present = [e for e, start, stop in prog.recent if start <= day <= stop]
                if not present and r.random() < 0.7:
                    continue
                session = t_ses.pk()
                t_ses.add(session, prog.pk, datetime.date.fromordinal(day), r.choice(_TOPICS),
                          None, "Konselor adiksi")  # fmt: skip
                for enrolment in present:
                    roll = r.random()
                    state = "present" if roll < 0.85 else "absent" if roll < 0.95 else "excused"
                    t_att.add(t_att.pk(), session, enrolment, state)
            self.progress.advance()
        self.progress.end()

    # -- issued files --

    def _issued_files(self) -> None:
        """Render a few issued documents for real; point every other issued row at one of
        those files with its hash and size."""
        from agreements import document as official_document

        rows = list(
            IssuedDocument.objects.filter(pk__gte=self.t_issued.next_pk - self.t_issued.count)
            .order_by("pk")
            .values_list("pk", "agreement_id", "verification_code", "issued_at")
        )
        if not rows:
            return
        self._stage("issued documents", len(rows))
        rendered: list[tuple[str, str, int]] = []
        for pk, agreement_pk, code, issued_at in rows[: self.issued_files]:
            agreement = Agreement.objects.get(pk=agreement_pk)
            issue = official_document.IssueInfo(verification_code=code, issued_at=issued_at)
            data = official_document.render_agreement_document(agreement, issue=issue).data
            name = private_storage.save(
                f"issued/{agreement_pk}/scale-{hashlib.sha256(data).hexdigest()[:16]}.pdf",
                io.BytesIO(data),
            )
            rendered.append((name, hashlib.sha256(data).hexdigest(), len(data)))
            IssuedDocument.objects.filter(pk=pk).update(
                file=name, sha256=rendered[-1][1], size=len(data)
            )
            self.progress.advance()
        rest = [pk for pk, *_others in rows[len(rendered) :]]
        with transaction.atomic():
            for n, (name, sha256, size) in enumerate(rendered):
                share = rest[n :: len(rendered)]
                for start in range(0, len(share), 900):  # SQLite binds at most 999 values
                    IssuedDocument.objects.filter(pk__in=share[start : start + 900]).update(
                        file=name, sha256=sha256, size=size
                    )
                self.progress.advance(len(share))
        self.progress.end()


def _end_of_term(start: datetime.date, months: int) -> datetime.date:
    from agreements.services.lifecycle import end_of_term

    return end_of_term(start, months)
