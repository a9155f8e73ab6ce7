"""`meterhouse`: the same pipeline as the Airflow DAGs, from a shell."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from etl.errors import MeterhouseError
from etl.settings import Settings


def _default_start(days: int) -> date:
    today = datetime.now(tz=UTC).date()
    return (
        today.replace(day=1) - timedelta(days=days)
        if days <= 28
        else (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from etl.samples.amberflo import generate_amberflo_exports, summarize_exports
    from etl.sources.stores import open_target

    start = date.fromisoformat(args.start) if args.start else _default_start(args.days)
    exports = generate_amberflo_exports(
        start=start, days=args.days, customers=args.customers, seed=args.seed
    )
    focus: list[tuple[str, bytes]] = []
    if args.focus:
        from etl.samples.focus import generate_focus_exports

        # FOCUS exports land under the same ingest/ prefix as meter records: one landing to sense.
        focus = [
            (f"ingest/{key}", data)
            for key, data in generate_focus_exports(start=start, days=args.days, seed=args.seed)
        ]
    store, prefix = open_target(args.out)
    for key, data in exports + focus:
        store.write(f"{prefix}{key}", data)
    summary = summarize_exports(exports)
    print(
        f"wrote {summary.files} Amberflo files ({summary.records} records, {summary.duplicate_records} retried "
        f"duplicates) and {len(focus)} FOCUS files to {args.out}, {start} + {args.days} days"
    )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from etl.jobs.ingest import ingest

    settings = Settings.from_env(args.warehouse)
    report = ingest(args.sources, settings, force=args.force)
    rows = [
        [
            f.uri,
            f.status,
            f.source_format or "",
            f.rows_in,
            f.events_loaded,
            f.duplicates,
            f.rejected,
            f.error or "",
        ]
        for f in report.files
    ]
    if args.quiet:
        rows = [r for r in rows if r[1] not in ("loaded", "empty")]
    _print_table(
        ["source", "status", "format", "rows_in", "loaded", "duplicates", "rejected", "error"],
        rows,
        "table",
    )
    t = report.totals()
    print(
        f"\n{t['files']} files ({t['failed']} failed): rows_in={t['rows_in']} loaded={t['events_loaded']} "
        f"duplicates={t['duplicates']} rejected={t['rejected']} warehouse={_warehouse_name(settings)}"
    )
    _print_findings(report.findings())
    return 1 if t["failed"] and args.strict else 0


def _print_findings(findings: dict[str, int]) -> None:
    """FOCUS conformance findings per rule (rows kept, never rejects)."""
    if findings:
        print("\nFOCUS conformance findings (rows loaded, not rejected):")
        for rule, count in findings.items():
            print(f"  {rule}: {count}")


def cmd_sql(args: argparse.Namespace) -> int:
    from etl.lake import QueryRefused
    from etl.warehouse import Warehouse

    settings = Settings.from_env(args.warehouse)
    warehouse = Warehouse.of(settings)
    # Default: the published lake, which no load ever blocks; --live: the DuckDB file, read-only.
    run = warehouse.query if args.live else warehouse.query_published
    try:
        names, rows = run(args.query)
    except QueryRefused as exc:
        print(f"meterhouse sql: refused: {exc}", file=sys.stderr)
        return 2
    except MeterhouseError as exc:
        print(f"meterhouse sql: {exc}", file=sys.stderr)
        return 2
    _print_table(names, [list(r) for r in rows], args.format)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from etl.warehouse import Warehouse

    settings = Settings.from_env(args.warehouse)
    if getattr(args, "format", "table") == "json":
        return _print_status_json(settings)
    wh = Warehouse.of(settings)
    names, rows = wh.query(
        """SELECT status, count(*) AS files, sum(rows_in) AS rows_in, sum(events_loaded) AS loaded,
                  sum(duplicates) AS duplicates, sum(rejected) AS rejected, max(loaded_at) AS last_load
           FROM ingest_ledger GROUP BY status ORDER BY status"""
    )
    print(f"warehouse {_warehouse_name(settings)}")
    _print_table(names, [list(r) for r in rows], "table")
    _, failed = wh.query(
        "SELECT source_uri, error FROM ingest_ledger WHERE status IN ('failed', 'error') ORDER BY source_uri LIMIT 20"
    )
    if failed:
        print("\nfailed files:")
        for uri, error in failed:
            print(f"  {uri}: {error}")
    _, ev = wh.query("SELECT count(*), min(event_date), max(event_date) FROM meter_events")
    print(f"\nmeter_events: {ev[0][0]} events from {ev[0][1]} to {ev[0][2]}")
    _, has_conflict = wh.query(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'duplicate_events' AND column_name = 'conflict'"
    )
    if has_conflict[0][0]:
        _, dup = wh.query(
            "SELECT count(*), count(*) FILTER (WHERE conflict) FROM duplicate_events"
        )
        print(
            f"duplicate_events: {dup[0][0]} copies of stored events, {dup[0][1]} of them "
            "conflicting (content differs from the kept copy)"
        )
    _status_focus(settings)
    _print_unmapped_metrics(wh)
    return 0


def _warehouse_name(settings: Settings) -> str:
    """The warehouse as status shows it: the DuckDB file, or the DuckLake's data path."""
    from etl.warehouse import Warehouse

    return Warehouse.of(settings, create=False).describe()


def _status_focus(settings: Settings) -> None:
    """FOCUS findings per rule and unreconciled files, when the warehouse has the tables."""
    from etl.jobs.focus_conformance import findings_by_rule

    try:
        rows = findings_by_rule(settings)
    except MeterhouseError:
        return  # a warehouse not yet opened by a load since FOCUS findings were added
    if rows:
        print("\nFOCUS conformance findings (rows loaded, not rejected):")
        _print_table(
            ["rule", "column", "findings", "files", "example"],
            [[r["rule"], r["column_name"], r["findings"], r["files"], r["example_value"] or ""]
             for r in rows],
            "table",
        )  # fmt: skip


def _print_status_json(settings: Settings) -> int:
    from etl.jobs.focus_conformance import findings_by_rule
    from etl.jobs.runs import warehouse_status

    status = warehouse_status(settings)
    try:
        status["focus_findings"] = findings_by_rule(settings)
    except MeterhouseError:
        status["focus_findings"] = []  # a warehouse not yet opened since findings were added
    print(json.dumps(status, indent=2, default=str))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from etl.jobs.runs import list_runs

    runs = list_runs(Settings.from_env(args.warehouse), limit=args.limit)
    if args.format == "json":
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no run has loaded files yet")
        return 0
    columns = ["run_id", "try/user", "started_at", "finished_at", "files", "failed", "rows_in",
               "loaded", "rejected", "duplicates", "duration_s"]  # fmt: skip
    rows = [
        [
            run["run_id"] or "(not recorded)",
            run["try_number"] if run["dag_id"] else run["os_user"],
            run["started_at"],
            run["finished_at"],
            run["files"],
            run["failed"],
            run["rows_in"],
            run["events_loaded"],
            run["rejected"],
            run["duplicates"],
            run["duration_s"],
        ]
        for run in runs
    ]
    _print_table(columns, rows, "table")
    return 0


def _print_unmapped_metrics(wh: Any) -> None:
    """Prometheus metrics remote write sent that the mapping file does not name."""
    from etl.warehouse.prometheus import UNMAPPED_REPORT

    _, has_table = wh.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'prometheus_unmapped'"
    )
    if not has_table[0][0]:
        return
    names, rows = wh.query(UNMAPPED_REPORT)
    if rows:
        print(
            "\nunmapped Prometheus metrics (not loaded; name them in "
            "METERHOUSE_PROMETHEUS_MAPPING to meter them):"
        )
        _print_table(names, [list(r) for r in rows], "table")


def cmd_retract(args: argparse.Namespace) -> int:
    from etl.jobs.retract import retract

    settings = Settings.from_env(args.warehouse)
    for r in retract(args.sources, settings):
        days = sorted(d.isoformat() for d in r.touched_dates)
        span = f"{days[0]} .. {days[-1]}" if days else "none"
        print(
            f"retracted {r.source_uri}: removed {r.events} events, {r.duplicates} duplicates, "
            f"{r.rejected} rejected rows; event days changed: {span}"
        )
    print("run `meterhouse rollup` to re-rate the days that changed")
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f")
            if value == value.to_integral()
            else format(value.normalize(), "f")
        )
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _print_table(names: Sequence[str], rows: list[list[Any]], fmt: str) -> None:
    if fmt == "json":
        print(
            json.dumps(
                [
                    {
                        n: _cell(v) if not isinstance(v, int | float) else v
                        for n, v in zip(names, r, strict=True)
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows([[_cell(v) for v in r] for r in rows])
        return

    # Data never drives the terminal: control characters (ESC sequences, carriage returns,
    # bidi overrides) print as visible escapes such as \x1b.
    def shown(text: str) -> str:
        return "".join(
            f"\\x{ord(c):02x}"
            if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
            else f"\\u{ord(c):04x}"
            if 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069
            else c
            for c in text
        )

    names = [shown(n) for n in names]
    cells = [[shown(_cell(v)) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    widths = [min(w, 80) for w in widths]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c[:80].ljust(w) for c, w in zip(r, widths, strict=True)))


def cmd_rate_card_load(args: argparse.Namespace) -> int:
    from etl.jobs.rollup import load_rate_card

    settings = Settings.from_env(args.warehouse)
    loaded = load_rate_card(args.file, settings=settings)
    print(
        f"rate card {loaded['version']} loaded from {loaded['source_uri']}: "
        f"{loaded['prices']} price rows, {loaded['adjustments']} adjustments "
        f"(previous: {loaded['previous_version'] or 'none'})"
    )
    if loaded["affected_from"]:
        print(
            f"it changes prices of events from {loaded['affected_from']} to before {loaded['affected_to']}; "
            "costs already rolled up are unchanged until you re-rate them:\n"
            "  meterhouse rollup --rerate   (or trigger usage_rollup with rerate / a date range)"
        )
    else:
        print("it changes no price of any stored event")
    return 0


def cmd_rate_card_show(args: argparse.Namespace) -> int:
    from etl.warehouse import Warehouse

    settings = Settings.from_env(args.warehouse)
    warehouse = Warehouse.of(settings, create=False)
    names, rows = warehouse.query(
        """SELECT rate_id, meter_name, unit, currency, pricing, tier_period, tier_from, unit_price,
                  dimension_match, effective_from, effective_to
           FROM rate_card ORDER BY priority, tier_from"""
    )
    _print_table(names, [list(r) for r in rows], args.format)
    names, rows = warehouse.query(
        """SELECT adjustment_id, customer_id, team, meter_name, adjustment_pct, effective_from, effective_to
           FROM rate_adjustments ORDER BY priority"""
    )
    if rows:
        print()
        _print_table(names, [list(r) for r in rows], args.format)
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    from etl.jobs.rollup import rollup
    from etl.warehouse import require_warehouse

    settings = Settings.from_env(args.warehouse)
    # Rolls up an existing warehouse only: a mistyped --warehouse must not create an empty one.
    require_warehouse(settings.warehouse_path)
    report = rollup(
        from_date=args.from_date, to_date=args.to_date, rerate=args.rerate, settings=settings
    )
    days = report["days"]
    if not days:
        print("nothing to roll up: no day changed since its last rollup")
        return 0
    costs = ", ".join(f"{c} {Decimal(v):.2f}" for c, v in report["cost_by_currency"].items())
    print(
        f"rolled up {len(days)} days ({days[0]} .. {days[-1]}) in {len(report['months'])} months: "
        f"{report['events']} events, {report['rated']} rated, {report['source_cost']} with source cost, "
        f"{report['unrated']} unrated; cost of these days: {costs or '-'}"
    )
    if report["unrated"]:
        meters = ", ".join(f"{m} ({n})" for m, n in report["unrated_meters"].items())
        print(f"warning: {report['unrated']} events match no price and have no cost: {meters}")
    return 0


def cmd_export_focus(args: argparse.Namespace) -> int:
    from etl.jobs.export_focus import export_focus
    from etl.warehouse import require_warehouse

    settings = Settings.from_env(args.warehouse)
    require_warehouse(settings.warehouse_path)
    try:
        month = date.fromisoformat(f"{args.month}-01")
    except ValueError:
        print(f"meterhouse export focus: --month {args.month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    result = export_focus(settings, month, args.out, args.format)
    totals = ", ".join(f"{c} {v}" for c, v in sorted(result.billed_cost.items())) or "-"
    print(f"FOCUS 1.2 export of {result.month}: {result.rows} rows, BilledCost {totals}")
    for uri in result.uris:
        print(f"  {uri}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from etl.gateway.server import serve
    from etl.settings import GatewaySettings

    serve(GatewaySettings.from_env(), host=args.host, port=args.port, workers=args.workers)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `meterhouse` command line."""
    parser = argparse.ArgumentParser(prog="meterhouse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write sample exports to an s3:// URI or a local folder")
    g.add_argument("--out", required=True, help="s3://bucket/prefix or a local folder")
    g.add_argument("--days", type=int, default=30)
    g.add_argument("--customers", type=int, default=300)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--start", help="first day (YYYY-MM-DD); default: the start of last month")
    g.add_argument("--focus", action="store_true", help="also write FOCUS cost-and-usage exports")
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("ingest", help="ingest s3://bucket/prefix, a local file or a local folder")
    i.add_argument("sources", nargs="+")
    i.add_argument(
        "--warehouse", help="DuckDB file (default $METERHOUSE_WAREHOUSE or ./data/warehouse.duckdb)"
    )
    i.add_argument(
        "--force", action="store_true", help="reprocess objects the ledger already holds"
    )
    i.add_argument("--quiet", action="store_true", help="list only files that did not load")
    i.add_argument("--strict", action="store_true", help="exit 1 when any file failed")
    i.set_defaults(func=cmd_ingest)

    q = sub.add_parser("sql", help="run read-only SQL against the warehouse")
    q.add_argument("query")
    q.add_argument("--warehouse")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.add_argument(
        "--live",
        action="store_true",
        help="query the DuckDB file itself (read-only; waits while a load holds it) instead of the published lake",
    )
    q.set_defaults(func=cmd_sql)

    s = sub.add_parser("status", help="summarize the ingest ledger")
    s.add_argument("--warehouse")
    s.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="json: machine-readable (fields in etl/jobs/runs.py warehouse_status)",
    )
    s.set_defaults(func=cmd_status)

    ru = sub.add_parser(
        "runs", help="the runs that loaded files (Airflow run and try, or cli), newest first"
    )
    ru.add_argument("--warehouse")
    ru.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    ru.add_argument("--format", choices=["table", "json"], default="table")
    ru.set_defaults(func=cmd_runs)

    rt = sub.add_parser(
        "retract",
        help="remove a source's events, duplicates, rejects and line items on purpose",
    )
    rt.add_argument("sources", nargs="+", help="source_uri as the ingest ledger shows it")
    rt.add_argument("--warehouse")
    rt.set_defaults(func=cmd_retract)

    rc = sub.add_parser("rate-card", help="load or show the rate card (docs/rating.md)")
    rc_sub = rc.add_subparsers(dest="rate_card_command", required=True)
    rl = rc_sub.add_parser(
        "load", help="validate and load a rate card (CSV or YAML) from s3:// or a local path"
    )
    rl.add_argument("file")
    rl.add_argument("--warehouse")
    rl.set_defaults(func=cmd_rate_card_load)
    rs = rc_sub.add_parser("show", help="print the current rate card")
    rs.add_argument("--warehouse")
    rs.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rs.set_defaults(func=cmd_rate_card_show)

    r = sub.add_parser(
        "rollup", help="rate events and rebuild cost_daily / cost_monthly for changed days"
    )
    r.add_argument("--from", dest="from_date", help="also re-rate from this day (YYYY-MM-DD)")
    r.add_argument("--to", dest="to_date", help="... to this day, inclusive (default: --from)")
    r.add_argument(
        "--rerate",
        action="store_true",
        help="also re-rate the period the last loaded rate card changed",
    )
    r.add_argument("--warehouse")
    r.set_defaults(func=cmd_rollup)

    ex = sub.add_parser("export", help="export the data center's costs (FOCUS 1.2)")
    ex_sub = ex.add_subparsers(dest="export_command", required=True)
    ef = ex_sub.add_parser(
        "focus", help="write a month of rated costs as a FOCUS 1.2 dataset (CSV and/or Parquet)"
    )
    ef.add_argument("--month", required=True, help="YYYY-MM")
    ef.add_argument("--out", required=True, help="a local folder or s3://bucket/prefix")
    ef.add_argument("--format", choices=["csv", "parquet", "both"], default="both")
    ef.add_argument("--warehouse")
    ef.set_defaults(func=cmd_export_focus)

    gw = sub.add_parser("serve", help="run the ingest gateway (POST /ingest; etl/gateway)")
    gw.add_argument("--host", help="default $METERHOUSE_GATEWAY_HOST or 127.0.0.1")
    gw.add_argument("--port", type=int, help="default $METERHOUSE_GATEWAY_PORT or 8090")
    gw.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    gw.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `meterhouse` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s %(message)s",
    )
    try:
        return int(args.func(args))
    except MeterhouseError as exc:
        print(f"meterhouse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
