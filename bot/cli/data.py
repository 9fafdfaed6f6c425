"""`opsbot check` and `opsbot ingest`: the warehouse checked against the config, and files imported into it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bot.cli.common import EXIT_CANNOT_RUN, config_option, settings_or_exit, start_logging


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (duplicate keys, unknown statuses, ...).")
def check(config_path: str | None, as_json: bool, strict: bool) -> None:
    """Check the warehouse against the config: tables, columns, types, row counts, date ranges, problems.

    Exit 0 usable, 1 a required table or column is missing or unusable (with --strict: any
    warning), 2 the warehouse cannot be reached.
    """
    from metrics.data.check import run_check  # pandas and the drivers only for the commands that need them

    settings = settings_or_exit(config_path)
    start_logging(settings, False)
    report = run_check(settings)
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.render())
    sys.exit(report.exit_code(strict))


@click.command()
@click.argument("table", type=click.Choice(["orders", "traffic", "marketing_spend", "order_lines", "products",
                                            "inventory", "shipments", "returns"]))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--map", "maps", multiple=True, metavar="LOGICAL=HEADER",
              help="Read a logical column from this header, e.g. --map ordered_at=InvoiceDate (repeatable). "
                   "Without it a header with the logical name (any case) is used.")
@click.option("--set", "sets", multiple=True, metavar="LOGICAL=VALUE",
              help="Give a column the same value on every row, e.g. --set channel=search (repeatable).")
@click.option("--preset", default=None, metavar="NAME",
              help="A known export format: uci-retail (UCI Online Retail invoice lines, into orders with their "
                   "order_lines and products).")
@click.option("--lines", is_flag=True,
              help="Rows are order lines: sum quantity x unit price into one order per order_id.")
@click.option("--quantity", default=None, metavar="HEADER",
              help="With --lines (or into order_lines): the quantity column.")
@click.option("--unit-price", default=None, metavar="HEADER",
              help="With --lines (or into order_lines): the unit price column.")
@click.option("--date-format", default=None, metavar="FORMAT",
              help="strptime layout of dates, e.g. '%d/%m/%Y %H:%M' (default: ISO 8601).")
@click.option("--timestamps", type=click.Choice(["local", "utc"]), default=None,
              help="Naive timestamps in the files are business-local or UTC (default: as [warehouse] timestamps).")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV files, e.g. cp1252.")
@click.option("--delimiter", default=",", show_default=True, help="Field separator: ',', ';', or 'tab'.")
@click.option("--partial", is_flag=True,
              help="Load the valid rows of a file that has rejected rows (default: such a file loads nothing).")
@click.option("--rejects-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write <file>.rejects.csv here instead of beside each input.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(
    table: str, files: tuple[Path, ...], config_path: str | None, maps: tuple[str, ...], sets: tuple[str, ...],
    preset: str | None, lines: bool, quantity: str | None, unit_price: str | None, date_format: str | None,
    timestamps: str | None, encoding: str, delimiter: str, partial: bool, rejects_dir: Path | None,
    progress: bool | None, as_json: bool,
) -> None:
    """Import CSV, gzip'd CSV or Parquet FILES into TABLE of the configured warehouse.

    Each file is one transaction: it goes in whole, or (when a row is rejected) not at all,
    with every rejected row listed and written to <file>.rejects.csv. Rows are upserted by
    key (order_id; day and channel; order_id and sku; ...: docs/data.md), so importing a file
    again never duplicates anything.
    Exit 0 every file loaded, 1 a file was refused or failed, 2 nothing could be imported.
    """
    from metrics.data.ingest import IngestOptions, IngestSetupError, ingest_files, parse_assignments

    settings = settings_or_exit(config_path)
    start_logging(settings, False)
    try:
        columns = parse_assignments(maps, "--map")
        columns.update({k: v for k, v in (("quantity", quantity), ("unit_price", unit_price)) if v})
        options = IngestOptions(
            columns=columns, constants=parse_assignments(sets, "--set"), preset=preset,
            lines=lines or (table == "orders" and bool(quantity or unit_price)), date_format=date_format,
            timestamps=timestamps,  # type: ignore[arg-type]
            encoding=encoding, delimiter="\t" if delimiter in ("tab", "\\t") else delimiter,
            partial=partial, rejects_dir=rejects_dir,
        )
        report = ingest_files(settings, table, files, progress=progress, options=options)
    except IngestSetupError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.render())
    sys.exit(report.exit_code)
