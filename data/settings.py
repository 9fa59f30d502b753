"""Settings: where the data is, how its tables map onto the canonical entities, business figures.

Read from ``cruscotto.toml`` (path overridable with ``CRUSCOTTO_CONFIG``); the source URL comes
from the file's ``[source] url``, else ``CRUSCOTTO_DB_URL``, else ``.streamlit/secrets.toml``
(``[connections.cruscotto] url``), else the embedded demo database.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from data.entities import ENGAGEMENT_KINDS, ENTITIES
from data.messages import Explained

__all__ = [
    "ALERT_KPIS",
    "ALERT_SHARES",
    "SHARE_KPIS",
    "TARGET_KPIS",
    "AlertRule",
    "BuiltinAlerts",
    "BusinessParams",
    "ConfigError",
    "EngagementParams",
    "EntityMapping",
    "ForecastParams",
    "MailSettings",
    "ServerLimits",
    "Settings",
    "StageRules",
    "Target",
    "check_target",
    "load_settings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "cruscotto.toml"
DEFAULT_SECRETS = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_TIMEOUT_S = 60.0
TARGETS_FILE = "cruscotto-targets.csv"
DATE_ORDERS = ("DMY", "MDY")
CLEAN_MODES = ("auto", "in_memory", "in_database")


class ConfigError(Explained, ValueError):
    """A setting that cannot be used; ``key`` names the setting to fix, ``code`` the message."""

    def __init__(self, key: str, code: str, **params: object) -> None:
        self.key = key
        super().__init__(code, **params)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class StageRules:
    """The thresholds of the stages; override any of them in ``[lifecycle]`` of the settings file."""

    new_days: int = 90
    active_min: float = 0.7
    lapsed_below: float = 0.3
    loyal_top_share: float = 0.2
    alive_gaps: float = 1.5
    lapsed_gaps: float = 3.0

    def __post_init__(self) -> None:
        if not 0 <= self.lapsed_below <= self.active_min <= 1:
            raise ValueError("lifecycle: need 0 ≤ lapsed_below ≤ active_min ≤ 1.")
        if not 0 < self.loyal_top_share < 1:
            raise ValueError("lifecycle.loyal_top_share must be between 0 and 1 (0.2 is the top 20 %).")
        if self.new_days <= 0 or not 0 < self.alive_gaps < self.lapsed_gaps:
            raise ValueError("lifecycle: new_days must be positive and 0 < alive_gaps < lapsed_gaps.")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StageRules:
        """Rules from a settings table; ``ValueError`` naming an unknown key."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(f"lifecycle.{key}: unknown setting; the settings are {', '.join(sorted(known))}.")
        return cls(**dict(values))


@dataclass(frozen=True)
class BusinessParams:
    """Business figures with the defaults of DESIGN.md section 3."""

    currency: str = "EUR"
    locale: str = "it"
    default_margin: float = 0.40
    cost_per_ticket: float = 25.0
    annual_discount_rate: float = 0.10
    clv_horizon_months: int = 36

    def __post_init__(self) -> None:
        if not 0 <= self.default_margin <= 1:
            raise ConfigError("business.default_margin", "config.margin_range")
        if self.cost_per_ticket < 0:
            raise ConfigError("business.cost_per_ticket", "config.not_negative")
        if self.clv_horizon_months <= 0:
            raise ConfigError("business.clv_horizon_months", "config.positive_months")
        if self.locale not in ("it", "en"):
            raise ConfigError("business.locale", "config.locale")


@dataclass(frozen=True)
class EntityMapping:
    """Where one canonical entity comes from: a table with column renames, or one SELECT."""

    entity: str
    table: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # (canonical, source column)
    sql: str | None = None
    configured: bool = False  # False when the entity falls back to a same-named table

    def source_column(self, canonical: str) -> str:
        return dict(self.columns).get(canonical, canonical)

    def describe(self) -> str:
        if self.sql is not None:
            return self.sql.strip()
        return self.table or self.entity


#: people reached per conversion, per kind of engagement that others see: the share of the people
#: a review or a share reaches who become customers, where the conversion is not tracked
DEFAULT_CONVERSION_RATES: tuple[tuple[str, float], ...] = (
    ("review", 0.002),
    ("rating", 0.001),
    ("social_share", 0.002),
    ("social_post", 0.001),
)


@dataclass(frozen=True)
class EngagementParams:
    """``[engagement]``: the assumptions behind the engagement value, each visible and editable
    (Kumar et al.; the literature has no standard estimator for the knowledge value)."""

    #: a referral counts when the referred customer first buys within this many months of it
    referral_window_months: int = 12
    #: the share of referrals that brought someone who would not have come otherwise, where the
    #: sign-up survey did not ask ("incremental" unknown)
    incremental_share: float = 0.5
    #: conversions per person reached, per kind (``[engagement.conversion_rates]``)
    conversion_rates: tuple[tuple[str, float], ...] = DEFAULT_CONVERSION_RATES
    #: what one feedback or survey answer is worth to the business
    value_per_feedback: float = 5.0
    #: what a customer who tries a new product first is worth to the business, per trial
    value_per_trial: float = 10.0
    #: what a customer's consent to use their data is worth, per consent
    value_per_consent: float = 0.0

    def rate(self, kind: str) -> float:
        return dict(self.conversion_rates).get(kind, 0.0)


@dataclass(frozen=True)
class ForecastParams:
    """``[forecast]``: how far ahead, the pace of new customers, and the backtest."""

    #: months forecast after the end of the period
    months: int = 12
    #: new customers a month are expected at their pace over this many months before the forecast
    trailing_months: int = 6
    #: the backtest: the same forecast made this many months before the end of the period, compared
    #: month by month with what happened (at most the forecast's months; fewer on a short history)
    backtest_months: int = 12


#: the KPIs a target can be set for, and whether a negative target makes sense
TARGET_KPIS: dict[str, bool] = {
    "revenue": False,
    "margin": True,
    "margin_pct": True,
    "orders": False,
    "aov": False,
    "new_customers": False,
    "active_customers": False,
    "repeat_customers": False,
    "avg_clv": True,
    "clv_cac": True,
    "marketing_roi": True,
}
#: KPIs that are shares: a target is written as a share (0.30 for 30 %)
SHARE_KPIS = ("margin_pct", "marketing_roi")


@dataclass(frozen=True)
class Target:
    """One ``[[targets]]`` entry: a KPI's target for a year (``2026``) or a month (``2026-11``),
    for the whole company or one segment."""

    kpi: str
    period: str
    value: float
    segment: str | None = None
    #: where it was set, as a key to fix: ``targets[3]``, ``cruscotto-targets.csv[2]``, ``entities.targets[4]``
    origin: str = field(default="", compare=False)

    @property
    def year(self) -> int:
        return int(self.period[:4])

    @property
    def month(self) -> int | None:
        return int(self.period[5:7]) if len(self.period) == 7 else None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What a target is for: at most one value per KPI, period and segment."""
        return (self.kpi, self.period, self.segment)


#: the KPIs an ``[[alerts]]`` rule can watch (each declared in ``kpi.registry``)
ALERT_KPIS: tuple[str, ...] = (
    "revenue",
    "margin",
    "margin_pct",
    "orders",
    "aov",
    "active_customers",
    "new_customers",
    "repeat_customers",
    "avg_clv",
    "clv_cac",
    "avg_cev",
    "engagement_share",
    "marketing_roi",
    "marketing_roi_to_date",
    "at_risk_customers",
    "lapsed_customers",
    "at_risk_value",
)
#: KPIs written as shares in an alert (0.30 for 30 %), and whose change is in points
ALERT_SHARES = ("margin_pct", "engagement_share", "marketing_roi", "marketing_roi_to_date")


@dataclass(frozen=True)
class AlertRule:
    """One ``[[alerts]]`` entry: a KPI of the period (or its change against the previous period)
    below or above a threshold, for the whole company or one segment."""

    kpi: str
    #: "below" or "above"
    when: str
    threshold: float
    #: the threshold is on the change against the previous period: relative (-0.10 = 10 % less),
    #: in points for a share (-0.05 = 5 points less)
    change: bool = False
    segment: str | None = None
    #: the owner's own name for the rule (None: said from the KPI)
    name: str | None = None
    #: where it was set, as a key to fix: ``alerts[2]``
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class BuiltinAlerts:
    """``[builtin_alerts]``: the alerts every owner gets without writing a rule; each can be
    turned off (``false``) and the two thresholds changed."""

    #: a campaign whose customers, over their whole life, do not pay back its cost
    campaigns: bool = True
    #: the value of the customers at risk grew by more than this share on the previous period
    at_risk_value: float | None = 0.10
    #: a target of the year (or of the data's last month) off track
    targets: bool = True
    #: the last whole month's revenue below the range its forecast gave
    forecast: bool = True
    #: an entity's rows left out as unusable above this share of the rows read
    excluded_rows: float | None = 0.02


#: how the mail server's connection is protected, and the port each uses by default
MAIL_SECURITY = {"starttls": 587, "ssl": 465, "none": 25}
#: ``[mail]``'s keys and the environment variables that override them
MAIL_ENV = {
    "host": "CRUSCOTTO_SMTP_HOST",
    "port": "CRUSCOTTO_SMTP_PORT",
    "security": "CRUSCOTTO_SMTP_SECURITY",
    "user": "CRUSCOTTO_SMTP_USER",
    "password": "CRUSCOTTO_SMTP_PASSWORD",
    "sender": "CRUSCOTTO_MAIL_FROM",
    "dashboard_url": "CRUSCOTTO_DASHBOARD_URL",
}


@dataclass(frozen=True)
class MailSettings:
    """``[mail]``: the mail server the report is sent through (``cli.py report --mail-to``).
    ``host`` None: no server given. The password is never shown (``repr`` hides it)."""

    host: str | None = None
    port: int = 587
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str | None = None
    #: the dashboard's address, for the e-mail's link to the same view (None: no link)
    dashboard_url: str | None = None


@dataclass(frozen=True)
class ServerLimits:
    """``[server]``: what one server gives its visitors at once (0: decided from the machine)."""

    #: page runs at a time for all visitors together; 0: as many as the machine has cores (at least 2)
    pages_at_once: int = 0
    #: memory for the results shared by every visitor, in MB; 0: a quarter of the machine's memory
    cache_mb: int = 0
    #: ``python3 serve.py`` reads the source and makes the overview as it starts and at midnight,
    #: before anybody asks (``ui.loaders.warm_up``)
    read_at_start: bool = True
    #: figures this many minutes old are read again (in the background); 0: once a day
    refresh_minutes: int = 10


@dataclass(frozen=True)
class Settings:
    url: str | None
    url_origin: str  # "config", "env", "secrets" or "demo"
    entities: tuple[EntityMapping, ...]
    business: BusinessParams = field(default_factory=BusinessParams)
    config_path: str | None = None
    lifecycle: StageRules = field(default_factory=StageRules)
    #: longest a query may run before it is stopped (seconds)
    statement_timeout_s: float = 60.0
    #: how dates written with slashes, dots or dashes and a year last are read: "DMY" or "MDY"
    date_order: str = "DMY"
    #: where the rows are cleaned: "auto", "in_memory" (a local copy) or "in_database" (data.staging)
    clean: str = "auto"
    server: ServerLimits = field(default_factory=ServerLimits)
    engagement: EngagementParams = field(default_factory=EngagementParams)
    forecast: ForecastParams = field(default_factory=ForecastParams)
    targets: tuple[Target, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    builtin_alerts: BuiltinAlerts = field(default_factory=BuiltinAlerts)
    #: the targets the app's form writes (a CSV file, editable in a spreadsheet too); None: no form
    targets_file: str | None = None
    mail: MailSettings = field(default_factory=MailSettings)

    def mapping(self, entity: str) -> EntityMapping:
        for m in self.entities:
            if m.entity == entity:
                return m
        return EntityMapping(entity=entity, table=entity)


def _read_toml(path: Path, key: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(key, "config.toml_invalid", path=path, detail=exc) from None


def _parse_entity(name: str, raw: Any) -> EntityMapping:
    key = f"entities.{name}"
    if name not in ENTITIES:
        raise ConfigError(key, "config.unknown_entity", names=", ".join(ENTITIES))
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "config.entity_shape")
    table, sql, columns = raw.get("table"), raw.get("sql"), raw.get("columns", {})
    if (table is None) == (sql is None):
        raise ConfigError(key, "config.table_or_sql")
    if sql is not None and not isinstance(sql, str):
        raise ConfigError(f"{key}.sql", "config.sql_string")
    if table is not None and not isinstance(table, str):
        raise ConfigError(f"{key}.table", "config.table_name")
    if not isinstance(columns, Mapping):
        raise ConfigError(f"{key}.columns", "config.columns_map")
    spec = ENTITIES[name]
    pairs: list[tuple[str, str]] = []
    for canonical, source in columns.items():
        if canonical not in spec.columns:
            raise ConfigError(
                f"{key}.columns.{canonical}",
                "config.unknown_column",
                canonical=canonical,
                entity=name,
                columns=", ".join(spec.columns),
            )
        if not isinstance(source, str) or not source:
            raise ConfigError(f"{key}.columns.{canonical}", "config.column_name")
        pairs.append((canonical, source))
    return EntityMapping(entity=name, table=table, columns=tuple(pairs), sql=sql, configured=True)


def _secrets_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    conn = _read_toml(path, "secrets").get("connections", {}).get("cruscotto", {})
    url = conn.get("url") if isinstance(conn, Mapping) else None
    return url if isinstance(url, str) and url else None


def _lifecycle_rules(raw: Mapping[str, Any]) -> StageRules:
    known = {f for f in StageRules.__dataclass_fields__}
    for k in raw:
        if k not in known:
            raise ConfigError(f"lifecycle.{k}", "config.unknown_setting", names=", ".join(sorted(known)))
    try:
        return StageRules(**dict(raw))
    except TypeError as exc:
        raise ConfigError("lifecycle", "config.value", detail=exc) from None
    except ValueError as exc:
        text = str(exc)
        if "loyal_top_share" in text:
            raise ConfigError("lifecycle.loyal_top_share", "config.lifecycle_share") from None
        if "new_days" in text:
            raise ConfigError("lifecycle", "config.lifecycle_gaps") from None
        raise ConfigError("lifecycle", "config.lifecycle_bounds") from None


def _source_options(raw: Mapping[str, Any]) -> tuple[float, str, str]:
    """``[source] statement_timeout_s``, ``date_order`` and ``clean``, checked."""
    allowed = {"url", "statement_timeout_s", "date_order", "clean"}
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"source.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
    timeout = raw.get("statement_timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError("source.statement_timeout_s", "config.positive_seconds")
    order = str(raw.get("date_order", "DMY")).upper()
    if order not in DATE_ORDERS:
        raise ConfigError("source.date_order", "config.date_order")
    clean = str(raw.get("clean", "auto")).lower()
    if clean not in CLEAN_MODES:
        raise ConfigError("source.clean", "config.clean", names=", ".join(CLEAN_MODES))
    return float(timeout), order, clean


def _engagement_params(raw: Any) -> EngagementParams:
    """``[engagement]``, checked: every amount and share a finite number, shares between 0 and 1."""
    if not isinstance(raw, Mapping):
        raise ConfigError("engagement", "config.section_table")
    allowed = set(EngagementParams.__dataclass_fields__)
    values: dict[str, Any] = {}
    for k, value in raw.items():
        if k not in allowed:
            raise ConfigError(f"engagement.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
        if k == "conversion_rates":
            if not isinstance(value, Mapping):
                raise ConfigError("engagement.conversion_rates", "config.section_table")
            rates = dict(DEFAULT_CONVERSION_RATES)
            for kind, rate in value.items():
                if kind not in ENGAGEMENT_KINDS:
                    names = ", ".join(ENGAGEMENT_KINDS)
                    raise ConfigError(f"engagement.conversion_rates.{kind}", "config.unknown_setting", names=names)
                if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                    raise ConfigError(f"engagement.conversion_rates.{kind}", "config.share")
                rates[kind] = float(rate)
            values[k] = tuple(sorted(rates.items()))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"engagement.{k}", "config.not_negative")
        if k == "referral_window_months":
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"engagement.{k}", "config.positive_months")
        elif k == "incremental_share":
            if not 0 <= value <= 1:
                raise ConfigError(f"engagement.{k}", "config.share")
        elif value < 0:
            raise ConfigError(f"engagement.{k}", "config.not_negative")
        values[k] = value
    return EngagementParams(**values)


def _mail_settings(raw: Any, env: Mapping[str, str]) -> MailSettings:
    """``[mail]``, each key overridden by its environment variable (``MAIL_ENV``) when set, checked:
    a known security, a port from 1 to 65535 (by default the security's), text elsewhere."""
    if not isinstance(raw, Mapping):
        raise ConfigError("mail", "config.section_table")
    for k in raw:
        if k not in MAIL_ENV:
            raise ConfigError(f"mail.{k}", "config.unknown_setting", names=", ".join(MAIL_ENV))
    given: dict[str, Any] = {k: v for k, v in raw.items() if v is not None and v != ""}
    where = {k: f"mail.{k}" for k in given}
    for k, variable in MAIL_ENV.items():
        if env.get(variable):
            given[k], where[k] = env[variable], variable
    for k, value in given.items():
        if k != "port" and not isinstance(value, str):
            raise ConfigError(where[k], "config.text")
    security = str(given.get("security", "starttls")).strip().lower()
    if security not in MAIL_SECURITY:
        raise ConfigError(
            where.get("security", "mail.security"), "config.mail_security", names=", ".join(MAIL_SECURITY)
        )
    port = given.get("port", MAIL_SECURITY[security])
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(where.get("port", "mail.port"), "config.mail_port")
    return MailSettings(
        host=given.get("host"),
        port=port,
        security=security,
        user=given.get("user"),
        password=given.get("password"),
        sender=given.get("sender"),
        dashboard_url=given.get("dashboard_url"),
    )


def _forecast_params(raw: Any) -> ForecastParams:
    """``[forecast]``, checked: whole numbers of months, 1 to 36."""
    if not isinstance(raw, Mapping):
        raise ConfigError("forecast", "config.section_table")
    allowed = set(ForecastParams.__dataclass_fields__)
    for k, value in raw.items():
        if k not in allowed:
            raise ConfigError(f"forecast.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36:
            raise ConfigError(f"forecast.{k}", "config.months_1_36")
    return ForecastParams(**raw)


_PERIOD = re.compile(r"^(19|20|21)\d\d(-(0[1-9]|1[0-2]))?$")


def _targets(raw: Any) -> tuple[Target, ...]:
    """``[[targets]]``, checked: a known KPI, a year or a month, a number that fits the KPI, and
    at most one target per KPI, period and segment."""
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) for entry in raw):
        raise ConfigError("targets", "config.targets_shape")
    out: list[Target] = []
    seen: set[tuple[str, str, str | None]] = set()
    for i, entry in enumerate(raw, start=1):
        key = f"targets[{i}]"
        target = check_target(entry, key)
        if target.key in seen:
            raise ConfigError(key, "config.target_twice")
        seen.add(target.key)
        out.append(target)
    return tuple(out)


def _targets_file(raw: Any, beside: Path) -> str | None:
    """``[budget] file``: where the form keeps its targets, relative to the settings file's folder
    (default ``cruscotto-targets.csv`` there); ``""`` turns the form off."""
    if not isinstance(raw, Mapping):
        raise ConfigError("budget", "config.section_table")
    for k in raw:
        if k != "file":
            raise ConfigError(f"budget.{k}", "config.unknown_setting", names="file")
    name = raw.get("file", TARGETS_FILE)
    if not isinstance(name, str):
        raise ConfigError("budget.file", "config.file_name")
    return str(beside / Path(name).expanduser()) if name.strip() else None


def check_target(entry: Mapping[str, Any], key: str) -> Target:
    """One target from its ``kpi``, ``period``, ``value`` and optional ``segment``, checked: a known
    KPI, a year or a month, a number that fits the KPI; ``ConfigError`` naming ``key.<field>``."""
    allowed = {"kpi", "period", "value", "segment"}
    for k in entry:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
    kpi = entry.get("kpi")
    if kpi not in TARGET_KPIS:
        raise ConfigError(f"{key}.kpi", "config.target_kpi", names=", ".join(TARGET_KPIS))
    period = entry.get("period")
    period = str(period) if isinstance(period, int) and not isinstance(period, bool) else period
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise ConfigError(f"{key}.period", "config.target_period")
    value = entry.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key}.value", "config.target_value")
    if value < 0 and not TARGET_KPIS[kpi]:
        raise ConfigError(f"{key}.value", "config.not_negative")
    # a margin % is a share of revenue (0.31); an ROI may be many times the spend (25 = 2,500 %)
    if (kpi == "margin_pct" and abs(value) > 1) or (kpi in SHARE_KPIS and abs(value) > 100):
        raise ConfigError(f"{key}.value", "config.target_share", value=value, share=value / 100)
    segment = entry.get("segment")
    if segment is not None and (not isinstance(segment, str) or not segment.strip()):
        raise ConfigError(f"{key}.segment", "config.target_segment")
    return Target(kpi=kpi, period=period, value=float(value), segment=segment, origin=key)


def _alerts(raw: Any) -> tuple[AlertRule, ...]:
    """``[[alerts]]``, checked: a known KPI, exactly one of ``below`` and ``above`` with a number
    that fits the KPI, an optional ``change``, ``segment`` and ``name``."""
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) for entry in raw):
        raise ConfigError("alerts", "config.alerts_shape")
    out: list[AlertRule] = []
    allowed = {"kpi", "below", "above", "change", "segment", "name"}
    for i, entry in enumerate(raw, start=1):
        key = f"alerts[{i}]"
        for k in entry:
            if k not in allowed:
                raise ConfigError(f"{key}.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
        kpi = entry.get("kpi")
        if kpi not in ALERT_KPIS:
            raise ConfigError(f"{key}.kpi", "config.alert_kpi", names=", ".join(ALERT_KPIS))
        sides = [k for k in ("below", "above") if k in entry]
        if len(sides) != 1:
            raise ConfigError(key, "config.alert_side")
        when = sides[0]
        value = entry[when]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}.{when}", "config.target_value")
        change = entry.get("change", False)
        if not isinstance(change, bool):
            raise ConfigError(f"{key}.change", "config.boolean")
        # a share is written as a share (0.30 for 30 %, -0.05 for 5 points less)
        if kpi in ALERT_SHARES and abs(value) > (100 if kpi.startswith("marketing_roi") else 1):
            raise ConfigError(f"{key}.{when}", "config.target_share", value=value, share=value / 100)
        if change and kpi not in ALERT_SHARES and abs(value) > 10:
            raise ConfigError(f"{key}.{when}", "config.alert_change", value=value, share=value / 100)
        segment = entry.get("segment")
        if segment is not None and (not isinstance(segment, str) or not segment.strip()):
            raise ConfigError(f"{key}.segment", "config.target_segment")
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip() or "\n" in name):
            raise ConfigError(f"{key}.name", "config.alert_name")
        out.append(AlertRule(kpi, when, float(value), change, segment, name.strip() if name else None, origin=key))
    return tuple(out)


def _builtin_alerts(raw: Any) -> BuiltinAlerts:
    """``[builtin_alerts]``: each alert on (``true``) or off (``false``); the two with a threshold
    take a share instead of ``true`` (0.10 for 10 %)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("builtin_alerts", "config.section_table")
    default = BuiltinAlerts()
    values: dict[str, Any] = {}
    for k, value in raw.items():
        if k not in BuiltinAlerts.__dataclass_fields__:
            names = ", ".join(BuiltinAlerts.__dataclass_fields__)
            raise ConfigError(f"builtin_alerts.{k}", "config.unknown_setting", names=names)
        if k in ("at_risk_value", "excluded_rows"):
            if value is False:
                values[k] = None
            elif value is True:
                values[k] = getattr(default, k)
            elif isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 10:
                values[k] = float(value)
            else:
                raise ConfigError(f"builtin_alerts.{k}", "config.alert_share")
        elif isinstance(value, bool):
            values[k] = value
        else:
            raise ConfigError(f"builtin_alerts.{k}", "config.boolean")
    return BuiltinAlerts(**values)


def _server_limits(raw: Any) -> ServerLimits:
    """``[server] pages_at_once``, ``cache_mb`` and ``read_at_start``, checked."""
    if not isinstance(raw, Mapping):
        raise ConfigError("server", "config.section_table")
    allowed = set(ServerLimits.__dataclass_fields__)
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"server.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
        value = raw[k]
        if k == "read_at_start":
            if not isinstance(value, bool):
                raise ConfigError(f"server.{k}", "config.boolean")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"server.{k}", "config.whole_number")
    return ServerLimits(**raw)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Read the settings; raises ``ConfigError`` naming the key to fix."""
    env = os.environ if env is None else env
    explicit = config_path or env.get("CRUSCOTTO_CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG
    if explicit and not path.is_file():
        raise ConfigError("CRUSCOTTO_CONFIG", "config.no_file", path=path)
    raw: dict[str, Any] = _read_toml(path, "cruscotto.toml") if path.is_file() else {}

    url, origin = None, "demo"
    source = raw.get("source", {})
    if isinstance(source, Mapping) and source.get("url"):
        url, origin = str(source["url"]), "config"
    elif env.get("CRUSCOTTO_DB_URL"):
        url, origin = env["CRUSCOTTO_DB_URL"], "env"
    else:
        secret = _secrets_url(Path(secrets_path) if secrets_path else DEFAULT_SECRETS)
        if secret:
            url, origin = secret, "secrets"

    entities_raw = raw.get("entities", {})
    if not isinstance(entities_raw, Mapping):
        raise ConfigError("entities", "config.entities_table")
    configured = {name: _parse_entity(name, value) for name, value in entities_raw.items()}
    entities = tuple(configured.get(name, EntityMapping(entity=name, table=name)) for name in ENTITIES)

    business_raw = raw.get("business", {})
    if not isinstance(business_raw, Mapping):
        raise ConfigError("business", "config.section_table")
    allowed = set(BusinessParams.__dataclass_fields__)
    for k in business_raw:
        if k not in allowed:
            raise ConfigError(f"business.{k}", "config.unknown_setting", names=", ".join(sorted(allowed)))
    try:
        business = BusinessParams(**business_raw)
    except TypeError as exc:
        raise ConfigError("business", "config.value", detail=exc) from None
    lifecycle_raw = raw.get("lifecycle", {})
    if not isinstance(lifecycle_raw, Mapping):
        raise ConfigError("lifecycle", "config.section_table")
    lifecycle = _lifecycle_rules(lifecycle_raw)
    timeout, date_order, clean = _source_options(source if isinstance(source, Mapping) else {})
    server = _server_limits(raw.get("server", {}))
    engagement = _engagement_params(raw.get("engagement", {}))
    forecast = _forecast_params(raw.get("forecast", {}))
    mail = _mail_settings(raw.get("mail", {}), env)
    targets = _targets(raw.get("targets", []))
    alerts = _alerts(raw.get("alerts", []))
    builtin_alerts = _builtin_alerts(raw.get("builtin_alerts", {}))
    return Settings(
        alerts=alerts,
        builtin_alerts=builtin_alerts,
        mail=mail,
        targets=targets,
        targets_file=_targets_file(raw.get("budget", {}), path.resolve().parent),
        forecast=forecast,
        server=server,
        engagement=engagement,
        statement_timeout_s=timeout,
        date_order=date_order,
        clean=clean,
        lifecycle=lifecycle,
        url=url,
        url_origin=origin,
        entities=entities,
        business=business,
        config_path=str(path) if path.is_file() else None,
    )
