import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contacts.services import contacts_import_csv
from crm.actors import Actor
from crm.exceptions import ApplicationError
from crm.models import Workspace

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file into a workspace: rows matching a contact by email, "
        "phone or handle update it; prints progress, then a report of created, updated and "
        "rejected rows (with reasons)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (UTF-8, header row first).")
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=TARGET",
            help="Map a column, e.g. --map 'Mobile=phone' --map 'IG=handle:instagram' "
            "--map 'Plan=attribute:plan' --map 'Notes=ignore'. Repeatable.",
        )
        parser.add_argument(
            "--report", default=None, help="Also write the full report as JSON to this file."
        )

    def handle(self, *args, file, workspace, map, report, **options):
        workspace_obj = Workspace.objects.filter(slug=workspace).first()
        if workspace_obj is None:
            raise CommandError(f"No workspace {workspace!r}.")
        mapping = {}
        for item in map:
            header, sep, target = item.partition("=")
            if not sep:
                raise CommandError(f"--map takes HEADER=TARGET, not {item!r}.")
            mapping[header.strip()] = target.strip()
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc

        try:
            result = contacts_import_csv(
                actor=Actor.system(workspace_obj),
                data=data,
                mapping=mapping,
                progress=self._progress,
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.detail} {exc.details or ''}".strip()) from exc
        self.stdout.write("")
        for row in result.rows:
            if row.status == "rejected":
                self.stdout.write(f"line {row.row}: rejected: {json.dumps(row.errors)}")
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.rejected} rejected"
        )
        if report:
            Path(report).write_text(json.dumps(result.as_dict(), indent=2))

    def _progress(self, done: int, total: int) -> None:
        # One line redrawn in place on a terminal; a log gets a line every 10 %.
        filled = BAR_WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
        if self.stdout.isatty():
            self.stdout.write("\r" + line, ending="")
        elif done == total or done % max(total // 10, 1) == 0:
            self.stdout.write(line)
