"""Benchmark the official PDF: our rendering against bare WeasyPrint, and issued downloads.

    python manage.py benchmark_pdf --runs 5

Builds two signed agreements inside a transaction that is rolled back at the end (nothing is
left in the database; issued files go to a temporary media folder that is removed): one like
the seed's (four parties, the standard articles) and one of 20 articles between four parties.
For each it prints the median time of

- our pipeline: `render_agreement_pdf` (queries, template, PDF/A-3a with tags, the JSON
  attachment, the QR code, the static-only fetcher);
- WeasyPrint rendering the same HTML bare: default fetcher, no PDF/A variant, no attachment;
- downloading the issued PDF through the Django test client (after a first download issued it);

and the ratios against the targets: render overhead ≤ 1.2× bare WeasyPrint, a download under
5% of a render. The three take turns run by run, so that a busy moment of the machine weighs on
all alike, and the overhead is the median of each run's ratio (ours over the bare render just
before or after it), in wall-clock and in CPU time: on a shared machine the CPU ratio is the
steadier one. A benchmark, not a test: the numbers depend on the machine.

With `--memory N`, it then renders the seed's document N times in this process, as a worker
would, and prints the resident memory after the first ten renders (fonts and caches loaded) and
at the end: the target is a growth under 10% over 1,000 renders.
"""

from __future__ import annotations

import gc
import os
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from weasyprint import HTML

from institutions.models import Institution, Person

from ...document import IssueInfo, render_agreement_html, render_agreement_pdf
from ...document.engine import static_root
from ...models import Agreement, Article, IssuedDocument, Party
from ...standard_articles import (
    STANDARD_ARTICLES,
    STANDARD_CONSIDERATIONS,
    STANDARD_LEGAL_BASIS,
    add_standard_articles,
)

RENDER_OVERHEAD_TARGET = 1.2
DOWNLOAD_SHARE_TARGET = 0.05
MEMORY_GROWTH_TARGET = 0.10
#: Renders before the memory baseline is taken: fonts, templates and caches load once.
MEMORY_WARMUP = 10

#: The parties of the seed's agreement: (name, kind, address, head's position).
SEED_PARTIES = (
    (
        "Badan Narkotika Nasional Kabupaten Batang",
        Institution.Kind.BNNK,
        "Jl. Jenderal Sudirman, Batang",
        "Kepala Badan Narkotika Nasional Kabupaten Batang",
    ),
    (
        "Rumah Tahanan Negara Kelas IIB Pemalang",
        Institution.Kind.RUTAN,
        "Jl. Pemuda, Pemalang",
        "Kepala Rumah Tahanan Negara Kelas IIB Pemalang",
    ),
    (
        "Rumah Tahanan Negara Kelas IIA Pekalongan",
        Institution.Kind.RUTAN,
        "Jl. Merdeka, Pekalongan",
        "Kepala Rumah Tahanan Negara Kelas IIA Pekalongan",
    ),
    (
        "Lembaga Pemasyarakatan Kelas IIA Pekalongan",
        Institution.Kind.LAPAS,
        "Jl. Sriwijaya, Pekalongan",
        "Kepala Lembaga Pemasyarakatan Kelas IIA Pekalongan",
    ),
)


@dataclass
class _Timings:
    """Wall-clock and CPU seconds of each run of one piece of work."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, work: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        work()
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(_cpu_seconds() - cpu)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (a render in a child process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; else the peak, from getrusage)."""
    try:
        with Path("/proc/self/statm").open(encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def paired_ratio(ours: list[float], bare: list[float]) -> float:
    """The median of the run-by-run ratios: each of our runs against the bare one next to it."""
    return statistics.median(mine / theirs for mine, theirs in zip(ours, bare, strict=True))


def _interleaved(works: dict[str, Callable[[], object]], runs: int) -> dict[str, _Timings]:
    """Time each piece of work `runs` times, taking turns (in alternating order), so that a
    busy moment of the machine weighs on all of them alike."""
    timings = {name: _Timings() for name in works}
    names = list(works)
    for index in range(runs):
        for name in names if index % 2 == 0 else reversed(names):
            timings[name].run(works[name])
    return timings


class Command(BaseCommand):
    help = (
        "Time the official PDF: our rendering against bare WeasyPrint, and downloads of an "
        "issued PDF. Leaves nothing behind."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--runs", type=int, default=5, help="Renders and downloads per agreement (median)."
        )
        parser.add_argument(
            "--memory",
            type=int,
            default=0,
            metavar="N",
            help="Then render the seed's document N times (e.g. 1000) and print memory growth.",
        )
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Render in this process, not in a child (PDF_RENDER_IN_CHILD off).",
        )

    def handle(
        self, *args, runs: int, memory: int = 0, in_process: bool = False, **options
    ) -> None:
        runs = max(1, runs)
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        in_child = settings.PDF_RENDER_IN_CHILD and not in_process
        with (
            tempfile.TemporaryDirectory() as media,
            override_settings(MEDIA_ROOT=media, ALLOWED_HOSTS=hosts, PDF_RENDER_IN_CHILD=in_child),
            transaction.atomic(),
        ):
            tag = secrets.token_hex(3)
            cases = {
                "seed (4 parties, standard articles)": self._agreement(tag, "seed", 0),
                "20 articles, 4 parties": self._agreement(tag, "besar", 20),
            }
            self.stdout.write(
                f"{runs} run(s) each; median seconds; rendering "
                f"{'in a child process' if in_child else 'in this process'}\n"
            )
            for label, agreement in cases.items():
                self._measure(label, agreement, runs)
            if memory > 0:
                self._memory(next(iter(cases.values())), memory)
            transaction.set_rollback(True)

    def _memory(self, agreement: Agreement, renders: int) -> None:
        """Resident memory over `renders` renders of `agreement` in this process."""
        issue = IssueInfo(verification_code="BenchmarkCode000", issued_at=timezone.now())
        samples: list[tuple[int, float]] = []
        baseline = None
        for number in range(1, max(renders, MEMORY_WARMUP + 1) + 1):
            render_agreement_pdf(agreement, issue=issue)
            if number in (MEMORY_WARMUP, renders) or number % 100 == 0:
                gc.collect()
                samples.append((number, resident_mb()))
                if number == MEMORY_WARMUP:
                    baseline = samples[-1][1]
        assert baseline is not None
        last_number, last = samples[-1]
        growth = (last - baseline) / baseline
        per_render = (last - baseline) / max(1, last_number - MEMORY_WARMUP)
        self.stdout.write(
            f"\nMemory over {last_number} renders in one process (MiB resident): "
            + ", ".join(f"{number}: {mb:.1f}" for number, mb in samples)
            + f"\n  growth after the first {MEMORY_WARMUP}: {growth:+.1%} "
            f"({per_render * 1024:+.0f} KiB a render)  target < {MEMORY_GROWTH_TARGET:.0%}: "
            f"{'met' if growth < MEMORY_GROWTH_TARGET else 'MISSED'}\n"
        )

    def _agreement(self, tag: str, name: str, articles: int) -> Agreement:
        """A signed agreement between the seed's four parties (made anew under unique names,
        whatever the database holds), with the standard articles or `articles` of them."""
        agreement = Agreement.objects.create(
            kind=Agreement.Kind.PKS,
            title=f"PKS P4GN dan Rehabilitasi Narkotika ({name} {tag})",
            subject=(
                "Pencegahan, Pemberantasan, Penyalahgunaan dan Peredaran Gelap Narkotika dan "
                "Prekursor Narkotika serta Program Rehabilitasi Narkotika bagi Tahanan dan "
                "Narapidana"
            ),
            status=Agreement.Status.SIGNED,
            considerations=STANDARD_CONSIDERATIONS,
            legal_basis=STANDARD_LEGAL_BASIS,
            term_months=24,
            signed_on=timezone.localdate(),
            signing_place="Rutan Pekalongan",
        )
        for order, (inst_name, kind, address, position) in enumerate(SEED_PARTIES, start=1):
            institution = Institution.objects.create(
                name=f"{inst_name} [{name} {tag}]", kind=kind, address=address
            )
            head = Person.objects.create(
                full_name=f"Kepala {order}", nip=f"{secrets.randbelow(10**18):018d}"
            )
            Party.objects.create(
                agreement=agreement,
                institution=institution,
                order=order,
                number=f"PKS/{order:02d}/VIII/2025/{tag}",
                signatory=head,
                signatory_position=position,
            )
        if articles:
            Article.objects.bulk_create(
                Article(
                    agreement=agreement,
                    number=number,
                    heading=STANDARD_ARTICLES[(number - 1) % len(STANDARD_ARTICLES)].heading,
                    body=STANDARD_ARTICLES[(number - 1) % len(STANDARD_ARTICLES)].render(24),
                )
                for number in range(1, articles + 1)
            )
        else:
            add_standard_articles(agreement)
        return agreement

    def _measure(self, label: str, agreement: Agreement, runs: int) -> None:
        issue = IssueInfo(verification_code="BenchmarkCode000", issued_at=timezone.now())
        html = render_agreement_html(agreement, issue=issue)
        base_url = static_root().resolve().as_uri() + "/"
        client = Client()
        url = reverse("public:agreement_pdf", args=[agreement.pk])
        first = client.get(url)  # issues the document
        document = IssuedDocument.objects.get(agreement=agreement)
        if first.status_code != 200 or len(first.content) != document.size:
            raise CommandError(f"The issued PDF did not download: {first.status_code}")
        works = {
            "ours": lambda: render_agreement_pdf(agreement, issue=issue),
            "bare": lambda: HTML(string=html, base_url=base_url).write_pdf(),
            "download": lambda: client.get(url).content,
        }
        _interleaved(works, 1)  # warm-up: fonts, templates and caches load once per process
        timings = _interleaved(works, runs)
        ours, bare, download = (timings[name] for name in ("ours", "bare", "download"))

        overhead = paired_ratio(ours.wall, bare.wall)
        cpu_overhead = paired_ratio(ours.cpu, bare.cpu)
        share = download.median_wall / ours.median_wall
        self.stdout.write(
            f"\n{label}: {agreement.articles.count()} articles, "
            f"{document.size / 1024:.0f} KiB issued\n"
            f"                      wall s     CPU s\n"
            f"  our render        {ours.median_wall:8.3f}  {ours.median_cpu:8.3f}\n"
            f"  bare WeasyPrint   {bare.median_wall:8.3f}  {bare.median_cpu:8.3f}\n"
            f"  issued download   {download.median_wall:8.4f}  {download.median_cpu:8.4f}\n"
            f"  render overhead   {overhead:8.2f}×  (CPU {cpu_overhead:.2f}×)"
            f"  target ≤ {RENDER_OVERHEAD_TARGET}×: "
            f"{'met' if overhead <= RENDER_OVERHEAD_TARGET else 'MISSED'} "
            f"(CPU: {'met' if cpu_overhead <= RENDER_OVERHEAD_TARGET else 'MISSED'})\n"
            f"  download/render   {share:8.1%}   target < {DOWNLOAD_SHARE_TARGET:.0%}: "
            f"{'met' if share < DOWNLOAD_SHARE_TARGET else 'MISSED'}\n"
        )
