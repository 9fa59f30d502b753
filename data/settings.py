"""Settings: where the data is, how its tables map onto the canonical entities, business figures.

Read from ``cruscotto.toml`` (path overridable with ``CRUSCOTTO_CONFIG``); the source URL comes
from the file's ``[source] url``, else ``CRUSCOTTO_DB_URL``, else ``.streamlit/secrets.toml``
(``[connections.cruscotto] url``), else the embedded demo database.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.entities import ENTITIES
from kpi.lifecycle import StageRules

__all__ = [
    "BusinessParams",
    "ConfigError",
    "EntityMapping",
    "Settings",
    "load_settings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "cruscotto.toml"
DEFAULT_SECRETS = PROJECT_ROOT / ".streamlit" / "secrets.toml"


class ConfigError(ValueError):
    """A setting that cannot be used; ``key`` names the setting to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


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
            raise ConfigError("business.default_margin", "must be between 0 and 1 (0.40 is 40 %).")
        if self.cost_per_ticket < 0:
            raise ConfigError("business.cost_per_ticket", "cannot be negative.")
        if self.clv_horizon_months <= 0:
            raise ConfigError("business.clv_horizon_months", "must be a positive number of months.")
        if self.locale not in ("it", "en"):
            raise ConfigError("business.locale", "must be 'it' or 'en'.")


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


@dataclass(frozen=True)
class Settings:
    url: str | None
    url_origin: str  # "config", "env", "secrets" or "demo"
    entities: tuple[EntityMapping, ...]
    business: BusinessParams = field(default_factory=BusinessParams)
    config_path: str | None = None
    lifecycle: StageRules = field(default_factory=StageRules)

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
        raise ConfigError(key, f"{path} is not valid TOML ({exc}).") from None


def _parse_entity(name: str, raw: Any) -> EntityMapping:
    key = f"entities.{name}"
    if name not in ENTITIES:
        raise ConfigError(key, f"unknown entity; the entities are {', '.join(ENTITIES)}.")
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table with 'table' and 'columns', or 'sql'.")
    table, sql, columns = raw.get("table"), raw.get("sql"), raw.get("columns", {})
    if (table is None) == (sql is None):
        raise ConfigError(key, "give either 'table' (with optional 'columns') or 'sql', not both.")
    if sql is not None and not isinstance(sql, str):
        raise ConfigError(f"{key}.sql", "must be a string holding one SELECT.")
    if table is not None and not isinstance(table, str):
        raise ConfigError(f"{key}.table", "must be a table name.")
    if not isinstance(columns, Mapping):
        raise ConfigError(f"{key}.columns", "must map canonical names to your column names.")
    spec = ENTITIES[name]
    pairs: list[tuple[str, str]] = []
    for canonical, source in columns.items():
        if canonical not in spec.columns:
            raise ConfigError(
                f"{key}.columns.{canonical}",
                f"'{canonical}' is not a column of {name}; its columns are {', '.join(spec.columns)}.",
            )
        if not isinstance(source, str) or not source:
            raise ConfigError(f"{key}.columns.{canonical}", "must name a column of your table.")
        pairs.append((canonical, source))
    return EntityMapping(entity=name, table=table, columns=tuple(pairs), sql=sql, configured=True)


def _secrets_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    conn = _read_toml(path, "secrets").get("connections", {}).get("cruscotto", {})
    url = conn.get("url") if isinstance(conn, Mapping) else None
    return url if isinstance(url, str) and url else None


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
        raise ConfigError("CRUSCOTTO_CONFIG", f"the settings file {path} does not exist.")
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
        raise ConfigError("entities", "must be a table of entities ([entities.orders] …).")
    configured = {name: _parse_entity(name, value) for name, value in entities_raw.items()}
    entities = tuple(configured.get(name, EntityMapping(entity=name, table=name)) for name in ENTITIES)

    business_raw = raw.get("business", {})
    if not isinstance(business_raw, Mapping):
        raise ConfigError("business", "must be a table of business figures.")
    allowed = set(BusinessParams.__dataclass_fields__)
    for k in business_raw:
        if k not in allowed:
            raise ConfigError(f"business.{k}", f"unknown setting; the settings are {', '.join(sorted(allowed))}.")
    try:
        business = BusinessParams(**business_raw)
    except TypeError as exc:
        raise ConfigError("business", str(exc)) from None
    lifecycle_raw = raw.get("lifecycle", {})
    if not isinstance(lifecycle_raw, Mapping):
        raise ConfigError("lifecycle", "must be a table of stage thresholds.")
    try:
        lifecycle = StageRules.from_mapping(lifecycle_raw)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        key = message.split(":", 1)[0] if message.startswith("lifecycle.") else "lifecycle"
        raise ConfigError(key, message.split(": ", 1)[-1]) from None
    return Settings(
        lifecycle=lifecycle,
        url=url,
        url_origin=origin,
        entities=entities,
        business=business,
        config_path=str(path) if path.is_file() else None,
    )
