"""Targets from beyond ``cruscotto.toml``: the file the app's form keeps (a CSV a spreadsheet can
open and save too) and a ``targets`` table mapped from the source like any entity.

Every row is checked like a ``[[targets]]`` entry (``data.settings.check_target``). A row that
cannot be used is left out and named — where it is, which column, why — so the owner can fix it;
the other rows are used. The source is only read; only the app's own file is written, whole, by
replacing it (never half written)."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from data.settings import ConfigError, Target, check_target
from data.source import Source

__all__ = [
    "TARGET_COLUMNS",
    "TargetRows",
    "parse_number",
    "read_targets_file",
    "read_targets_table",
    "save_targets",
    "target_rows_checked",
    "write_targets_file",
]

#: the columns of a targets file or table, in the order the app writes them
TARGET_COLUMNS = ("kpi", "period", "segment", "value")


@dataclass(frozen=True)
class TargetRows:
    """The usable targets of one place, the rows read there and the problems of the others (each
    naming its place: ``cruscotto-targets.csv[3].value``)."""

    targets: tuple[Target, ...] = ()
    rows_read: int = 0
    problems: tuple[ConfigError, ...] = ()


def parse_number(text: Any, decimal_comma: bool = False) -> Any:
    """A number as a spreadsheet writes it: ``1200000``, ``1.200.000,50`` or ``1,200,000.50``,
    ``€ 450.000``, ``31 %`` (0.31). Text that is not a number is returned as it is, for the check
    to name; a number is returned unchanged."""
    if not isinstance(text, str):
        return text
    s = re.sub(r"[\s\u00a0\u202f€$£]", "", text)
    share = s.endswith("%")
    s = s.rstrip("%")
    if not re.fullmatch(r"[-+]?[\d.,]*\d[\d.,]*", s):
        return text
    if "," in s and "." in s:  # the last one is the decimal mark
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif "," in s:
        thousands = re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", s) and not decimal_comma
        s = s.replace(",", "") if thousands else s.replace(",", ".")
    elif s.count(".") > 1 or (decimal_comma and re.fullmatch(r"[-+]?\d{1,3}(\.\d{3})+", s)):
        s = s.replace(".", "")
    try:
        value = float(s)
    except ValueError:
        return text
    return value / 100 if share else value


def target_rows_checked(rows: Iterable[Mapping[str, Any]], where: str, decimal_comma: bool = False) -> TargetRows:
    """Each row checked as a target; ``where`` names the place in the problems (``where[i].column``,
    rows counted from 1). Blank cells are absent; a second target for the same KPI, period and
    segment is a problem."""
    targets: list[Target] = []
    problems: list[ConfigError] = []
    seen: set[tuple[str, str, str | None]] = set()
    used = 0  # rows with anything in them
    for n, row in enumerate(rows, start=1):
        entry = {}
        for column, cell in row.items():
            if (
                cell is None
                or (isinstance(cell, float) and math.isnan(cell))
                or (isinstance(cell, str) and not cell.strip())
            ):
                continue
            cell = cell.strip() if isinstance(cell, str) else cell
            cell = float(cell) if isinstance(cell, Decimal) else cell
            if column == "value":
                cell = parse_number(cell, decimal_comma)
            elif column == "period" and isinstance(cell, float) and cell.is_integer():
                cell = int(cell)  # a year a spreadsheet or a database holds as a number
            entry[column] = cell
        if not entry:  # an empty line a spreadsheet leaves at the end
            continue
        used += 1
        key = f"{where}[{n}]"
        try:
            target = check_target(entry, key)
        except ConfigError as problem:
            problems.append(problem)
            continue
        if target.key in seen:
            problems.append(ConfigError(key, "config.target_twice"))
            continue
        seen.add(target.key)
        targets.append(target)
    return TargetRows(tuple(targets), used, tuple(problems))


def read_targets_file(path: str | os.PathLike[str]) -> TargetRows:
    """The targets of the form's file (none when it does not exist yet, or is empty). Commas or
    semicolons between the columns; with semicolons (as a spreadsheet set to Italian saves) a comma
    in a number is the decimal mark. UTF-8, else Windows-1252 (a spreadsheet's "CSV" on Windows).
    Columns besides the four (a note) are left alone. A file that cannot be read is one problem
    naming it."""
    path = Path(path)
    if not path.is_file():
        return TargetRows()
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return TargetRows(problems=(ConfigError(name, "config.targets_file_unreadable", detail=exc),))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        return TargetRows()
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("kpi", "period", "value") if c not in header]
    if missing:
        return TargetRows(
            problems=(
                ConfigError(
                    name, "config.targets_file_columns", missing=", ".join(missing), columns=", ".join(TARGET_COLUMNS)
                ),
            )
        )
    reader.fieldnames = header
    rows = [{k: v for k, v in row.items() if k in TARGET_COLUMNS} for row in reader]
    return target_rows_checked(rows, name, decimal_comma=delimiter == ";")


def write_targets_file(path: str | os.PathLike[str], targets: Iterable[Target]) -> None:
    """Replace the form's file with ``targets``: written beside it, then moved over it, so a reader
    never sees half a file. ``OSError`` when the folder cannot be written."""
    path = Path(path)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TARGET_COLUMNS)
    for target in targets:
        value = int(target.value) if float(target.value).is_integer() else target.value
        writer.writerow([target.kpi, target.period, target.segment or "", value])
    fd, tmp = tempfile.mkstemp(prefix=".targets-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out.getvalue())
        # the file keeps its permissions (a scheduled report run by another user still reads it);
        # a new one gets a file's usual ones
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_targets_table(source: Source) -> TargetRows:
    """The targets of the source's ``targets`` entity (a table or a query mapped in
    ``[entities.targets]``); none when it is not there."""
    if not source.available("targets"):
        return TargetRows()
    entity = source.entity("targets")
    with source.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(sa.select(entity.selectable))]
    present = [c for c in TARGET_COLUMNS if entity.has(c)]
    return target_rows_checked(({c: row[c] for c in present} for row in rows), "entities.targets")


def save_targets(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, Any]],
    decimal_comma: bool = False,
    elsewhere: Mapping[tuple[str, str, str | None], str] | None = None,
) -> tuple[ConfigError, ...]:
    """The form's rows checked and, when every one is a usable target not already set
    ``elsewhere`` (KPI, period, segment → where), written to ``path``; the problems otherwise
    (nothing written). ``OSError`` when the folder cannot be written."""
    checked = target_rows_checked(rows, Path(path).name, decimal_comma)
    taken = elsewhere or {}
    repeated = tuple(
        ConfigError(x.origin, "config.target_elsewhere_form", other=taken[x.key])
        for x in checked.targets
        if x.key in taken
    )
    if checked.problems or repeated:
        return checked.problems + repeated
    write_targets_file(path, checked.targets)
    return ()
