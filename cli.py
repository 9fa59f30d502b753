"""Cruscotto without a browser: the same data and KPI code, for scheduled jobs and checks.

    python cli.py check [--json]
    python cli.py demo [--url URL] [--customers N]
    python cli.py overview [--segment S ...] [--from D] [--to D] [--json] [--out FILE.csv|.xlsx]
    python cli.py roi [--segment S ...] [--json] [--out FILE]
    python cli.py upsell [--segment S ...] [--top N] [--json] [--out FILE]
    python cli.py report --format pdf|pptx|html [--lang it|en] [--out FILE]
    python cli.py report --mail-to a@b.it,c@d.it [--subject S] [--lang it|en] [--segment S ...]
    python cli.py lifecycle [--as-of D] [--compare-months 3] [--json] [--out FILE]
    python cli.py clv [--as-of D] [--unit day|week|month] [--holdout-from D] [--json] [--out FILE]
    python cli.py engagement [--segment S ...] [--top N] [--json] [--out FILE]
    python cli.py forecast [--months N] [--segment S ...] [--json] [--out FILE]
    python cli.py targets [--segment S] [--json] [--out FILE]
    python cli.py alerts [--lang it|en] [--segment S ...] [--json]

Exit status: 0 on success, 2 on a settings, mapping or input error (one line naming the key to fix);
1 when there is no forecast (too little history for the model: the reason on one line), for
``targets`` when a KPI is off track, for ``alerts`` when any alert fires, and for ``report
--mail-to`` when the server refused some of the recipients (the others have it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from data import facts
from data.demo import DEMO_PATH, build_demo_frames, ensure_demo_database, write_demo
from data.engine import SourceFault
from data.entities import ENTITIES
from data.filters import Filters
from data.settings import ConfigError, load_settings
from data.source import MappingError, Source
from kpi.customer_value import clv_overview, select_customers
from kpi.engagement import engagement_overview, referral_programme, referrals_of, segment_engagement
from kpi.lifecycle import stage_counts, transitions
from kpi.overview import overview_kpis
from kpi.periods import PERIOD_PRESETS, resolve_period
from kpi.roi import channel_roi, marketing_summary, unknown_conversions
from kpi.summary import TIME_UNITS
from render.export import figure_bytes, images_available, report_stem, table_bytes
from render.format import fmt_date
from render.text import alert_text, t
from service.alerts import Alert, alerts_for, unknown_rule_segments, unmeasured_rules
from service.compute import (
    clv_at,
    engagement_tables,
    entity_health,
    facts_for,
    fits,
    holdout,
    roi_table,
    stages_at,
    upsell_tables,
)
from service.forecast import forecast_for
from service.mail import MailError, dashboard_link, report_message, send_message
from service.report import build_report, lead_conversions_unknown, render, report_caption
from service.targets import current_values, target_rows, targets_for, unknown_segments

EXIT_INPUT = 2


class InputError(Exception):
    """A problem the user fixes in the settings or the command line."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: write it as YYYY-MM-DD.") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description="Cruscotto from the command line.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="settings file (default: cruscotto.toml or $CRUSCOTTO_CONFIG)")
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    common.add_argument("--out", type=Path, help="write the full table to FILE.csv or FILE.xlsx")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--segment", action="append", default=[], help="segment (repeat for several)")
    filters.add_argument("--region", action="append", default=[], help="region (repeat for several)")
    filters.add_argument("--channel", action="append", default=[], help="acquisition channel (repeat for several)")
    filters.add_argument("--period", choices=PERIOD_PRESETS[:-1], default="12m", help="preset period (default 12m)")
    filters.add_argument("--from", dest="start", type=_date, help="period start, YYYY-MM-DD")
    filters.add_argument("--to", dest="end", type=_date, help="period end, YYYY-MM-DD")
    filters.add_argument("--as-of", dest="as_of", type=_date, help="reference date (default: today)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", parents=[common, filters], help="validate the mapping and print the data health")
    demo = sub.add_parser("demo", help="write the demo database")
    demo.add_argument("--url", help=f"target database URL (default: {DEMO_PATH})")
    demo.add_argument("--customers", type=int, default=3000, help="number of customers (default 3000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument(
        "--intensity", type=float, default=1.0, help="factor on purchase rates (1.75: about ten orders per customer)"
    )
    sub.add_parser("overview", parents=[common, filters], help="the overview KPIs against the previous period")
    sub.add_parser("roi", parents=[common, filters], help="marketing ROI per campaign and channel, with verdicts")
    sub.add_parser("hash-password", help="read a password, print its argon2 hash for CRUSCOTTO_PASSWORD_HASH")
    report = sub.add_parser("report", parents=[common, filters], help="the executive report as pdf, pptx or html")
    report.add_argument("--format", choices=["pdf", "pptx", "html"], default="pdf", help="default pdf")
    report.add_argument("--lang", choices=["it", "en"], default="it", help="report language (default it)")
    report.add_argument(
        "--mail-to",
        dest="mail_to",
        help="send the PDF report to these addresses (comma-separated) through the [mail] server",
    )
    report.add_argument("--subject", help="the e-mail's subject (default: the report's title and date)")
    upsell = sub.add_parser("upsell", parents=[common, filters], help="upsell candidates ranked by expected value")
    upsell.add_argument("--top", type=int, default=20, help="rows to print (default 20; --out writes them all)")
    lifecycle = sub.add_parser("lifecycle", parents=[common, filters], help="customers per lifecycle stage, and moves")
    lifecycle.add_argument(
        "--compare-months",
        dest="compare_months",
        type=int,
        default=3,
        help="transitions from this many months before --as-of (default 3)",
    )
    engagement = sub.add_parser(
        "engagement", parents=[common, filters], help="customer engagement value: CLV plus referrals, influence, ideas"
    )
    engagement.add_argument("--top", type=int, default=10, help="customers listed (default 10)")
    forecast = sub.add_parser(
        "forecast", parents=[common, filters], help="the next months' revenue, margin, orders and active customers"
    )
    forecast.add_argument(
        "--months", type=int, help="months to forecast after the period's end (1-36; default: [forecast] months, 12)"
    )
    sub.add_parser(
        "targets", parents=[common, filters], help="the [[targets]] of the year against actual and projection"
    )
    alerts = sub.add_parser(
        "alerts",
        parents=[common, filters],
        help="the alerts of the period ([[alerts]] and the built-in ones); exit status 1 when any fires",
    )
    alerts.add_argument("--lang", choices=["it", "en"], default="it", help="language of the alerts (default it)")
    clv = sub.add_parser("clv", parents=[common, filters], help="customer lifetime value: the model and each customer")
    clv.add_argument("--unit", choices=list(TIME_UNITS), default="week", help="model time unit (default week)")
    clv.add_argument(
        "--holdout-from",
        dest="holdout_from",
        type=_date,
        help="check the model: fit on the history before DATE, predict from DATE to the last order",
    )
    clv.add_argument(
        "--value",
        choices=["margin", "revenue"],
        default="margin",
        help="value per purchase for the spend model (default margin; revenue for published benchmarks)",
    )
    return parser


def _open_source(args: argparse.Namespace) -> Source:
    settings = load_settings(args.config)
    url = settings.url or ensure_demo_database()
    source = Source(settings=settings, url=url)
    source.ping()
    return source


def _filters(args: argparse.Namespace, source: Source, today: date) -> Filters:
    first, last = facts_for(source, today).date_range()
    if first is None or last is None:
        raise InputError("entities.orders: no usable order; run 'python cli.py check' to see why.")
    preset = "custom" if (args.start or args.end) else args.period
    try:
        start, end = resolve_period(preset, first, last, args.start, args.end)
        return Filters(tuple(args.segment), tuple(args.region), tuple(args.channel), start, end)
    except ValueError as exc:
        raise InputError(f"--from/--to: {exc}") from None


def _write(df: pd.DataFrame, out: Path) -> None:
    if out.suffix.lower() in (".csv", ".xlsx"):
        out.write_bytes(table_bytes(df, out.suffix.lower()[1:]))  # English headers, numbers rounded as shown
    else:
        raise InputError(f"--out: write to a .csv or .xlsx file, not '{out.suffix or out.name}'.")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return str(value)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite number as None: JSON has no NaN (``null`` instead)."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if value is pd.NaT:
        return None
    return value


def _json(payload: Any) -> str:
    """Standard JSON any parser reads: unknown numbers are ``null``, never ``NaN``."""
    return json.dumps(_finite(payload), default=_json_default, indent=2, allow_nan=False)


def cmd_check(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = args.as_of or date.today()
    report: dict[str, dict[str, Any]] = {}
    errors = source.errors()
    for name in ENTITIES:
        resolved = source.resolution[name]
        if isinstance(resolved, MappingError):
            status = "error" if name in errors else "not mapped"
            report[name] = {"status": status, "message": str(resolved)}
            continue
        health = entity_health(source, facts_for(source, today), name)
        report[name] = {"status": "ok", **health}
        if name == "orders":
            report[name]["warnings"] = facts.data_warnings(facts_for(source, today))
    if args.out:
        rows = [
            {
                "entity": n,
                "status": r["status"],
                "rows_read": r.get("rows_read"),
                "rows_used": r.get("rows_used"),
                **{f"excluded_{k}": v for k, v in r.get("excluded", {}).items()},
            }
            for n, r in report.items()
        ]
        _write(pd.DataFrame(rows), args.out)
    if args.json:
        print(_json(report))
    else:
        print(f"source: {source.safe_url} ({source.dialect})")
        for name, r in report.items():
            if r["status"] != "ok":
                print(f"{name:<12} {r['status']}: {r['message']}")
                continue
            excluded = ", ".join(f"{k} {v}" for k, v in r["excluded"].items()) or "none"
            span = f"{r['first_date']} → {r['last_date']}" if r.get("first_date") else ""
            print(f"{name:<12} read {r['rows_read']:>9,}  used {r['rows_used']:>9,}  excluded: {excluded}  {span}")
            if r.get("warnings"):
                looks = ", ".join(f"{k} {v:,.0f}" for k, v in r["warnings"].items())
                print(f"{'':<12} worth a look (kept in the figures): {looks}")
    if errors:
        first = next(iter(errors.values()))
        print(str(first), file=sys.stderr)
        return EXIT_INPUT
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.customers < 100:
        raise InputError("--customers: the demo needs at least 100 customers.")

    def progress(fraction: float, step: str) -> None:
        print(f"\r{fraction:5.0%} {step:<12}", end="", file=sys.stderr, flush=True)

    if args.url:
        counts = write_demo(
            args.url, customers=args.customers, seed=args.seed, progress=progress, intensity=args.intensity
        )
        target = args.url
    elif args.customers == 3000 and args.seed == 7 and args.intensity == 1.0:
        ensure_demo_database(progress=progress, rewrite=True)
        counts = {name: len(df) for name, df in build_demo_frames().items()}
        target = str(DEMO_PATH)
    else:
        raise InputError("--customers/--seed: give --url for a demo other than the embedded one.")
    print(file=sys.stderr)
    print(f"demo written to {target}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = args.as_of or date.today()
    filters = _filters(args, source, today)
    table = overview_kpis(facts.period_measures(facts_for(source, today), filters))
    if args.out:
        _write(table, args.out)
    if args.json:
        payload = {"period": {"start": filters.start, "end": filters.end}, "kpis": table.to_dict(orient="records")}
        print(_json(payload))
    else:
        print(f"period {filters.start} → {filters.end}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.4f}"))
    return 0


def cmd_clv(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    first, last = facts_for(source, today).date_range()
    if first is None or last is None:
        raise InputError("entities.orders: no usable order; run 'python cli.py check' to see why.")
    as_of = args.as_of or args.end or last
    result = clv_at(source, as_of, today, unit=args.unit, value=args.value)
    table = select_customers(result.table, tuple(args.segment), tuple(args.region), tuple(args.channel))
    payload: dict[str, Any] = {
        "as_of": as_of,
        "model": None,
        "notice": result.notice,
        "customers_valued_on_history_only": result.unvalued,
    }
    if result.bgnbd is not None and result.gamma_gamma is not None:
        m, g = result.bgnbd, result.gamma_gamma
        payload["model"] = {
            "unit": args.unit,
            "r": m.r,
            "alpha": m.alpha,
            "a": m.a,
            "b": m.b,
            "log_likelihood": m.log_likelihood,
            "p": g.p,
            "q": g.q,
            "gamma": g.gamma,
            "customers": m.customers,
            "repeat_customers": m.repeat_customers,
        }
    payload["summary"] = clv_overview(table)
    if args.holdout_from:
        calibration_end = args.holdout_from - timedelta(days=1)
        if not first <= calibration_end < last:
            raise InputError(f"--holdout-from: choose a date after {first} and up to {last}.")
        check = holdout(facts_for(source, today), calibration_end, last, unit=args.unit, value=args.value)
        payload["holdout"] = {
            "from": args.holdout_from,
            "to": last,
            "actual": check.actual,
            "predicted": check.predicted,
        }
    if args.out:
        _write(table, args.out)
    if args.json:
        print(_json(payload))
    else:
        if payload["model"]:
            print(
                "model: "
                + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in payload["model"].items())
            )
        else:
            print(f"no model: {result.notice}")
        print("summary: " + ", ".join(f"{k} {v:,.2f}" for k, v in payload["summary"].items()))
        if "holdout" in payload:
            h = payload["holdout"]
            print(f"holdout {h['from']} → {h['to']}: predicted {h['predicted']:,.1f}, actual {h['actual']:,}")
        columns = ["customer_id", "segment", "margin_to_date", "service_cost", "p_alive", "residual_clv", "total_clv"]
        print(table.sort_values("total_clv", ascending=False).head(10)[columns].to_string(index=False))
    return 0


def cmd_roi(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    if not source.available("campaigns"):
        err = source.resolution["campaigns"]
        raise InputError(
            str(err)
            if source.settings.mapping("campaigns").configured
            else "entities.campaigns: map your campaigns (campaign_id, name, spend) to judge their ROI."
        )
    filters = _filters(args, source, today)
    as_of = args.as_of or filters.end
    assert as_of is not None
    roi = roi_table(source, filters, as_of, today)
    roi = unknown_conversions(roi) if lead_conversions_unknown(source) else roi  # n/d, not 0 %
    channels = channel_roi(roi)
    if args.out:
        _write(roi, args.out)
    if args.json:
        payload = {
            "as_of": as_of,
            "summary": {k: None if math.isnan(v) else v for k, v in marketing_summary(roi).items()},
            "campaigns": roi.replace({np.nan: None}).to_dict(orient="records"),
            "channels": channels.replace({np.nan: None}).to_dict(orient="records"),
        }
        print(_json(payload))
    else:
        columns = [
            "name",
            "channel",
            "spend",
            "customers",
            "cac",
            "roi_first",
            "roi_to_date",
            "roi_lifetime",
            "clv_cac",
            "payback_months",
            "verdict",
        ]
        print(f"as of {as_of}")
        print(roi[columns].to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    return 0


def cmd_lifecycle(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    filters = _filters(args, source, today)
    as_of = args.as_of or filters.end
    assert as_of is not None
    before_date = (pd.Timestamp(as_of) - pd.DateOffset(months=args.compare_months)).date()
    now = select_customers(stages_at(source, as_of, today), filters.segments, filters.regions, filters.channels)
    before = select_customers(
        stages_at(source, before_date, today), filters.segments, filters.regions, filters.channels
    )
    counts = stage_counts(now)
    moves = transitions(before, now)
    if args.out:
        _write(
            now[
                [
                    "customer_id",
                    "segment",
                    "region",
                    "channel",
                    "first_purchase",
                    "last_purchase",
                    "purchase_days",
                    "stage",
                    "p_alive",
                    "total_clv",
                ]
            ],
            args.out,
        )
    if args.json:
        payload = {
            "as_of": as_of,
            "stages": {k: int(v) for k, v in counts.items()},
            "prospects": facts.prospects(facts_for(source, today), filters, as_of),
            "transitions": {"from": before_date, "moves": moves.to_dict(orient="records")},
        }
        print(_json(payload))
    else:
        print(f"as of {as_of}: " + ", ".join(f"{k} {int(v):,}" for k, v in counts.items()))
        print(f"moves since {before_date}:")
        print(moves.to_string(index=False))
    return 0


def cmd_upsell(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    for entity in ("order_lines", "products"):
        if not source.available(entity):
            err = source.resolution[entity]
            raise InputError(
                str(err)
                if source.settings.mapping(entity).configured
                else f"entities.{entity}: map your {entity.replace('_', ' ')} to find upsell candidates."
            )
    filters = _filters(args, source, today)
    as_of = args.as_of or filters.end
    assert as_of is not None
    candidates, _funnel = upsell_tables(source, as_of, today)
    candidates = select_customers(candidates, filters.segments, filters.regions, filters.channels)
    if args.out:
        _write(candidates, args.out)
    if args.json:
        payload = {
            "as_of": as_of,
            "candidates": len(candidates),
            "expected_value": float(candidates["expected_value"].sum()),
            "by_offer": candidates.groupby("offer_name")["expected_value"].sum().round(2).to_dict(),
            "top": candidates.head(args.top).replace({np.nan: None}).to_dict(orient="records"),
        }
        print(_json(payload))
    else:
        columns = ["customer_id", "segment", "stage", "offer_name", "source", "adoption", "expected_value"]
        print(f"as of {as_of}: {len(candidates):,} proposals")
        print(candidates.head(args.top)[columns].to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    return 0


def cmd_engagement(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    if not (source.available("referrals") or source.available("engagements")):
        raise InputError(
            "entities.referrals, entities.engagements: map your referrals and/or engagements "
            "(reviews, shares, ideas) to value engagement; without them each customer's value is their CLV."
        )
    for entity in ("referrals", "engagements"):  # one mapped but broken: its part is 0, say why
        if not source.available(entity) and source.settings.mapping(entity).configured:
            print(f"{source.resolution[entity]} (its part of the value is 0)", file=sys.stderr)
    filters = _filters(args, source, today)
    as_of = args.as_of or filters.end
    assert as_of is not None
    facts = facts_for(source, today)
    everyone, detail, found = engagement_tables(source, facts, clv_at(source, as_of, today, facts=facts), as_of)
    table = select_customers(everyone, filters.segments, filters.regions, filters.channels)
    mine = referrals_of(detail, table)
    if args.out:
        _write(table.sort_values("cev", ascending=False), args.out)
    head = engagement_overview(table)
    payload = {
        "as_of": as_of,
        "customers": len(table),
        "average_cev": _finite(head["avg_cev"]),
        "average_clv": float(table["clv"].mean()) if len(table) else None,
        "share_from_engagement": _finite(head["engagement_share"]),
        "parts_total": {p: float(table[p].sum()) for p in ("clv", "crv", "civ", "civ_estimated", "ckv", "cev")},
        "quadrants": table["quadrant"].value_counts().to_dict(),
        "referral_programme": referral_programme(mine),
        "segments": segment_engagement(table).replace({np.nan: None}).to_dict(orient="records"),
        "excluded_rows": {name: h["excluded"] for name, h in found.health.items()},
        "top": table.nlargest(args.top, "cev").replace({np.nan: None}).to_dict(orient="records"),
    }
    if args.json:
        print(_json(payload))
    else:
        share = payload["share_from_engagement"]
        print(
            f"as of {as_of}: {len(table):,} customers, average CEV {payload['average_cev'] or 0:,.2f} "
            f"(CLV {payload['average_clv'] or 0:,.2f}); from engagement {share * 100 if share else 0:.1f} %"
        )
        programme = payload["referral_programme"]
        print(
            f"referral programme: {programme['referrals']:,.0f} referrals, "
            f"{programme['referred_customers']:,.0f} bought, "
            f"rewards {programme['rewards']:,.2f}, CRV {programme['crv']:,.2f}, "
            + (f"ROI {programme['roi'] * 100:,.0f} %" if math.isfinite(programme["roi"]) else "ROI n/d")
        )
        columns = ["customer_id", "segment", "clv", "crv", "civ", "civ_estimated", "ckv", "cev", "quadrant"]
        print(table.nlargest(args.top, "cev")[columns].to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    filters = _filters(args, source, today)
    params = source.settings.forecast
    if args.months is not None:
        if not 1 <= args.months <= 36:
            raise InputError("--months: a whole number of months, from 1 to 36.")
        params = replace(params, months=args.months)
    as_of = args.as_of or filters.end
    assert as_of is not None
    facts = facts_for(source, today)
    fitted = fits(source, today, facts)
    _first, last = facts.date_range()
    as_of = min(as_of, last) if last else as_of  # the forecast starts where the data ends

    view = forecast_for(facts, filters, params, as_of, fitted)
    if view is None:
        reason = fitted(as_of).notice or "the model could not be fitted"
        print(f"no forecast: {reason}", file=sys.stderr)
        return 1
    if args.out:
        _write(view.table, args.out)
    backtest = None
    if view.backtest is not None and view.errors is not None:
        backtest = {
            "months": len(view.backtest),
            "from": view.backtest["month"].iloc[0].date(),
            "error_total": {k: e["total"] for k, e in view.errors.items()},
            "error_monthly": {k: e["monthly"] for k, e in view.errors.items()},
            "by_month": view.backtest.assign(month=view.backtest["month"].dt.date).to_dict(orient="records"),
        }
    payload = {
        "as_of": as_of,
        "months": view.table.assign(month=view.table["month"].dt.date).to_dict(orient="records"),
        "totals": view.totals,
        "new_customers_per_month": view.new_per_month,
        "customers_left_out": view.unvalued,
        "backtest": backtest,
    }
    if args.json:
        print(_json(payload))
        return 0
    total = view.totals["revenue"]
    until = (view.table["month"].iloc[-1] + pd.offsets.MonthEnd(0)).date()
    print(
        f"from {as_of + timedelta(days=1)} to {until}: revenue {total['value']:,.0f} "
        f"(8 times in 10 between {total['low']:,.0f} and {total['high']:,.0f})"
    )
    if backtest is not None:
        print(
            f"backtest: made {backtest['months']} months earlier, the revenue forecast was "
            f"{backtest['error_total']['revenue'] * 100:+.1f} % off in total, "
            f"{backtest['error_monthly']['revenue'] * 100:.1f} % in a typical month"
        )
    else:
        print("backtest: the history is too short to test the forecast on past months")
    columns = ["month", "revenue", "revenue_low", "revenue_high", "margin", "orders", "active_customers"]
    shown = view.table[columns].assign(month=view.table["month"].dt.strftime("%Y-%m"))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    filters = _filters(args, source, today)
    found = targets_for(source)
    for problem in found.problems:  # a row of the form's file or the source's table: left out
        print(f"warning: {problem}", file=sys.stderr)
    targets = found.targets
    if not targets:
        raise InputError(
            "targets: none in the settings ([[targets]]), the form's file or a targets table; "
            "see 'Targets' in the README."
        )
    as_of = args.as_of or filters.end
    assert as_of is not None
    facts = facts_for(source, today)
    segments = [str(label) for label in facts.labels["segment"]]
    for where, target in unknown_segments(targets, segments):
        raise InputError(
            f"{where}: '{target.segment}' is not a segment in the data; the segments are {', '.join(sorted(segments))}."
        )
    fitted = fits(source, today, facts)

    _first, last = facts.date_range()
    data_end = min(as_of, last) if last else as_of  # what happened is known up to the last data
    reaches = last is not None and as_of >= last
    view = forecast_for(facts, filters, source.settings.forecast, data_end, fitted) if reaches else None
    now = current_values(source, filters, as_of, today, fitted(as_of))
    rows = target_rows(facts, filters, targets, data_end, view, now)
    if args.out:
        _write(rows, args.out)
    off = int((rows["status"] == "off_track").sum())
    if args.json:
        print(
            _json({"as_of": as_of, "targets": rows.replace({np.nan: None}).to_dict(orient="records"), "off_track": off})
        )
    else:
        print(f"as of {as_of}: {len(rows)} target{'s' if len(rows) != 1 else ''}, {off} off track")
        print(rows.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    return 1 if off else 0


def _alerts(source: Source, filters: Filters, today: date, strict: bool = True) -> list[Alert]:
    """The period's alerts. A rule naming a segment the data lack is an input error (``strict``), or
    a warning on the error output, the rule left out (the mailed report goes anyway); a rule on a
    KPI the source cannot give is a warning."""
    segments = [str(label) for label in facts_for(source, today).labels["segment"]]
    for rule in unknown_rule_segments(source.settings.alerts, segments):
        problem = (
            f"{rule.origin}.segment: '{rule.segment}' is not a segment in the data; "
            f"the segments are {', '.join(sorted(segments))}."
        )
        if strict:
            raise InputError(problem)
        print(f"warning: {problem} The rule is left out.", file=sys.stderr)
    for rule, table in unmeasured_rules(source):
        print(
            f"warning: {rule.origin}.kpi: '{rule.kpi}' needs the {table} table (entities.{table}); "
            "the rule can never fire.",
            file=sys.stderr,
        )
    return alerts_for(source, filters, today)


def _alert_link(source: Source, alert: Alert, args: argparse.Namespace, lang: str) -> str | None:
    """The address of the dashboard's view that explains ``alert`` (None without ``dashboard_url``)."""
    base = source.settings.mail.dashboard_url
    preset = "custom" if args.start or args.end else args.period
    return dashboard_link(base, alert.filters, preset, lang, alert.page) if base else None


def cmd_alerts(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = args.as_of or date.today()
    filters = _filters(args, source, today)
    found = _alerts(source, filters, today)
    cur = source.settings.business.currency
    rows = [
        {
            "kind": a.kind,
            "text": alert_text(a, args.lang, cur),
            "page": a.page,
            "link": _alert_link(source, a, args, args.lang),
            "setting": a.origin,
            "segments": list(a.filters.segments),
            "values": a.values,
        }
        for a in found
    ]
    if args.out:
        columns = ["kind", "text", "page", "link", "setting", "segments"]
        table = pd.DataFrame(
            [{**r, "segments": ", ".join(a.filters.segments)} for r, a in zip(rows, found, strict=True)],
            columns=columns,
        )
        _write(table, args.out)
    if args.json:
        print(_json({"from": filters.start, "to": filters.end, "alerts": rows}))
    else:
        period = f"{fmt_date(filters.start, args.lang)} – {fmt_date(filters.end, args.lang)}"
        print(f"{t('alerts.title', args.lang)} ({period}): {len(found)}")
        for a in found:
            print(f"- {alert_text(a, args.lang, cur)}  [{a.origin}]")
            link = _alert_link(source, a, args, args.lang)
            if link:
                print(f"  {link}")
        if not found:
            print(t("alerts.none", args.lang))
    return 1 if found else 0


def cmd_report(args: argparse.Namespace) -> int:
    source = _open_source(args)
    today = date.today()
    filters = _filters(args, source, today)
    fmt = args.format
    # by default the name the app's download gives: dated, so last month's report is not overwritten
    out = args.out or Path(f"{report_stem(args.lang, filters.segments, today)}.{fmt}")
    if out.suffix.lower() != f".{fmt}":
        raise InputError(f"--out: a {fmt} report goes to a .{fmt} file, not '{out.name}'.")
    if fmt in ("pdf", "pptx") and not images_available():
        raise InputError("--format: pdf and pptx need Chromium (apt-get install chromium); html does not.")

    def progress(fraction: float, step: str) -> None:
        print(f"\r{fraction:5.0%} {step:<20}", end="", file=sys.stderr, flush=True)

    recipients = [a.strip() for a in (args.mail_to or "").split(",") if a.strip()]
    mail = source.settings.mail
    if args.mail_to is not None:
        if fmt != "pdf":
            raise InputError("--mail-to: the report is mailed as a PDF; leave out --format or use --format pdf.")
        wrong = [a for a in recipients if not re.fullmatch(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+", a)]
        if not recipients or wrong:
            named = ", ".join(wrong) or "(none given)"
            raise InputError(f"--mail-to: not an e-mail address: {named}.")
        if not mail.host:
            raise InputError(f"mail: {MailError('mail.no_host').message}")
        if not (mail.sender or mail.user):
            raise InputError("mail.sender: give the sender's address in [mail] (or CRUSCOTTO_MAIL_FROM).")
        for name, text in (("--subject", args.subject or ""), ("mail.sender", mail.sender or mail.user or "")):
            if "\r" in text or "\n" in text:
                raise InputError(f"{name}: one line only (it goes in the e-mail's headers).")
    title, caption = t("report.title", args.lang), report_caption(filters, args.lang, today)
    warned = _alerts(source, filters, today, strict=False) if recipients else []  # before the long part
    sections = build_report(source, filters, args.lang, today, progress)
    print(file=sys.stderr)
    made = render(sections, fmt, title, caption)
    if args.out or not recipients:
        out.write_bytes(made)
        print(f"report written to {out} ({out.stat().st_size:,} bytes, {len(sections)} sections)")
    if recipients:
        overview = next(s for s in sections if s.title == t("page.overview", args.lang))
        preset = "custom" if args.start or args.end else args.period
        message = report_message(
            title=title,
            caption=caption,
            comment=overview.comment,
            figures=overview.cards,
            pdf=made,
            chart_png=figure_bytes(overview.figure, "png", caption) if overview.figure is not None else None,
            sender=mail.sender or mail.user or "",
            recipients=recipients,
            subject=args.subject or t("mail.subject", args.lang, title=title, day=fmt_date(today, args.lang)),
            lang=args.lang,
            filename=f"{report_stem(args.lang, filters.segments, today)}.pdf",
            link=dashboard_link(mail.dashboard_url, filters, preset, args.lang) if mail.dashboard_url else None,
            alerts=[
                (alert_text(a, args.lang, source.settings.business.currency), _alert_link(source, a, args, args.lang))
                for a in warned
            ],
        )
        try:
            refused = send_message(message, mail)
        except MailError as exc:
            raise InputError(f"mail: {exc.message}") from None
        taken = [a for a in recipients if a not in refused]
        print(f"report sent to {', '.join(taken)} through {mail.host}:{mail.port} ({len(made):,} bytes of PDF)")
        if refused:
            print(f"mail: the server refused {', '.join(refused)}; the others have it.", file=sys.stderr)
            return 1
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from service.passwords import hash_password

    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("Password: ")
    if len(password) < 8:
        raise InputError("password: use at least 8 characters.")
    print(hash_password(password))
    return 0


COMMANDS = {
    "hash-password": cmd_hash_password,
    "report": cmd_report,
    "upsell": cmd_upsell,
    "check": cmd_check,
    "demo": cmd_demo,
    "overview": cmd_overview,
    "clv": cmd_clv,
    "roi": cmd_roi,
    "lifecycle": cmd_lifecycle,
    "engagement": cmd_engagement,
    "forecast": cmd_forecast,
    "targets": cmd_targets,
    "alerts": cmd_alerts,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, MappingError) as exc:
        print(str(exc), file=sys.stderr)
    except SourceFault as exc:
        print(f"source: {exc}", file=sys.stderr)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
    except SQLAlchemyError as exc:
        print(f"query failed: {str(getattr(exc, 'orig', exc)).splitlines()[0]}", file=sys.stderr)
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
