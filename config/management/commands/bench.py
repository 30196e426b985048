"""`python manage.py bench`: every page kind against the production server; see `config.bench`.

DATABASE_URL=postgres://…/pks python manage.py bench --rounds 20
python manage.py bench --compare-db postgres://…/pks_tenth    # and the growth of each page
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import bench


class Command(BaseCommand):
    help = (
        "Start the production server on the database of DATABASE_URL and time every page kind "
        "(median, 95th percentile, SQL queries, ratio to a trivial view), then throughput."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rounds", type=int, default=20, help="Requests of each page.")
        parser.add_argument("--warmup", type=int, default=2, help="Uncounted rounds first.")
        parser.add_argument(
            "--connections",
            default="16,64",
            help="Concurrent connections of the throughput runs, comma-separated; 0 for none.",
        )
        parser.add_argument(
            "--seconds", type=float, default=10.0, help="Length of each throughput run."
        )
        parser.add_argument(
            "--accounts",
            default=str(Path(settings.BASE_DIR) / bench.ACCOUNTS_FILE),
            help="The accounts file of seed_scale (used when it exists).",
        )
        parser.add_argument(
            "--compare-db",
            default="",
            help="URL of a second seeded database (a tenth of the size): the growth of each page.",
        )
        parser.add_argument(
            "--compare-accounts", default="", help="The accounts file of the second database."
        )
        parser.add_argument("--output", default="", help="Directory of the JSON results.")
        parser.add_argument(
            "--allow-sqlite",
            action="store_true",
            help="Run on SQLite anyway (for a quick check: its numbers say little).",
        )
        parser.add_argument("--json-only", default="", help=self._hidden())

    @staticmethod
    def _hidden() -> str:
        return "Internal: write the results of this database to this file and print nothing."

    def handle(self, *args, **options) -> None:
        vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        if vendor == "sqlite3" and not options["allow_sqlite"]:
            raise CommandError(
                "The benchmark needs a seeded PostgreSQL database: set DATABASE_URL, e.g. "
                "DATABASE_URL=postgres://postgres@127.0.0.1:5432/pks make bench "
                "(--allow-sqlite runs it on SQLite anyway)."
            )
        if vendor == "sqlite3":
            self.stderr.write("Warning: SQLite; the numbers say little about production.")
        try:
            connections = tuple(
                int(value) for value in options["connections"].split(",") if int(value) > 0
            )
        except ValueError:
            raise CommandError("--connections takes numbers, e.g. 16,64.") from None
        output = Path(options["output"]) if options["output"] else None
        accounts = Path(options["accounts"]) if options["accounts"] else None
        log_dir = output or Path(settings.BASE_DIR) / bench.RESULTS_DIR
        try:
            results = bench.run(
                database_url=bench.database_url(),
                rounds=max(1, options["rounds"]),
                warmup=max(0, options["warmup"]),
                connections=connections,
                seconds=options["seconds"],
                accounts_file=accounts,
                log_path=log_dir / "server.log",
            )
        except bench.BenchError as exc:
            raise CommandError(str(exc)) from exc
        if options["json_only"]:
            Path(options["json_only"]).write_text(json.dumps(results, default=str))
            return
        if options["compare_db"]:
            bench.add_growth(results, self._compare(options))
        path = bench.write_results(results, output)
        self.stdout.write("\n".join(bench.report_lines(results)))
        self.stdout.write(f"\nResults: {path}")
        if any(page["errors"] for page in results["pages"]) or any(
            run["errors"] for run in results["throughput"]
        ):
            raise CommandError("Some pages answered with errors (see ERRORS above).")

    def _compare(self, options: dict) -> dict:
        """The same pages measured on the second database, by this command in a child process
        (each database has its own objects and accounts)."""
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "compare.json"
            command = [
                sys.executable,
                "manage.py",
                "bench",
                f"--rounds={options['rounds']}",
                f"--warmup={options['warmup']}",
                "--connections=0",
                f"--accounts={options['compare_accounts']}",
                f"--json-only={target}",
            ]
            if options["allow_sqlite"]:
                command.append("--allow-sqlite")
            if options["output"]:
                command.append(f"--output={options['output']}")
            env = {**os.environ, "DATABASE_URL": options["compare_db"]}
            done = subprocess.run(  # noqa: S603 - this command, our own arguments
                command, cwd=settings.BASE_DIR, env=env, check=False
            )
            if done.returncode != 0:
                raise CommandError("The benchmark of the second database failed (see above).")
            return json.loads(target.read_text())
