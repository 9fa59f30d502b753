"""The command line: check, demo and overview, with exit status 2 on input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import cli


def _run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    monkeypatch.delenv("CRUSCOTTO_CONFIG", raising=False)
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    code, out, _ = _run(
        capsys, monkeypatch, tiny_url, "check", "--json", "--config", str(config), "--as-of", "2025-01-15"
    )
    assert code == 0
    report = json.loads(out)
    assert report["orders"]["rows_read"] == 18
    assert report["orders"]["rows_used"] == 11
    assert report["orders"]["excluded"]["bad_date"] == 1
    assert report["customers"]["excluded"] == {"missing_id": 1, "duplicate_id": 1}
    assert report["tickets"]["status"] == "not mapped"


def test_check_names_the_key_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[entities.orders]\ntable = "orders"\n[entities.orders.columns]\nrevenue = "importo"\n')
    code, _, err = _run(capsys, monkeypatch, tiny_url, "check", "--config", str(config))
    assert code == 2
    assert err.strip().startswith("entities.orders.columns.revenue: column 'importo'")
    assert len(err.strip().splitlines()) == 1


def test_bad_config_and_bad_source_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[business]\ndefault_margin = 2\n")
    code, _, err = _run(capsys, monkeypatch, "sqlite:///x.db", "check", "--config", str(config))
    assert code == 2 and err.startswith("business.default_margin:")
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    code, _, err = _run(
        capsys, monkeypatch, "postgresql+psycopg://u:topsecret@127.0.0.1:1/x", "check", "--config", str(empty)
    )
    assert code == 2 and err.startswith("source:") and "topsecret" not in err


def test_overview_json_and_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    out_file = tmp_path / "overview.xlsx"
    code, out, _ = _run(
        capsys,
        monkeypatch,
        tiny_url,
        "overview",
        "--config",
        str(config),
        "--from",
        "2024-07-01",
        "--to",
        "2024-12-31",
        "--segment",
        "HoReCa",
        "--as-of",
        "2025-01-15",
        "--json",
        "--out",
        str(out_file),
    )
    assert code == 0
    payload = json.loads(out)
    kpis = {row["kpi"]: row for row in payload["kpis"]}
    assert kpis["revenue"]["value"] == pytest.approx(500.0)
    assert kpis["revenue"]["previous"] == pytest.approx(100.0)
    assert kpis["orders"]["value"] == 3
    assert pd.read_excel(out_file).set_index("kpi").loc["margin", "value"] == pytest.approx(270.0)


def test_overview_bad_dates_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    code, _, err = _run(
        capsys, monkeypatch, tiny_url, "overview", "--config", str(config), "--from", "2024-12-01", "--to", "2024-01-01"
    )
    assert code == 2 and "starts after it ends" in err
    code, _, err = _run(
        capsys, monkeypatch, tiny_url, "overview", "--config", str(config), "--out", str(tmp_path / "x.pdf")
    )
    assert code == 2 and err.startswith("--out:")


def test_demo_command_writes_a_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert cli.main(["demo", "--url", url, "--customers", "150"]) == 0
    out = capsys.readouterr().out
    assert "customers 151" in out  # 150 and one repeated row, on purpose
    assert cli.main(["demo", "--url", url, "--customers", "10"]) == 2


def test_roi_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    out_file = tmp_path / "roi.csv"
    code, out, _ = _run(capsys, monkeypatch, demo_url, "roi", "--config", str(config), "--json", "--out", str(out_file))
    assert code == 0
    payload = json.loads(out)
    verdicts = {c["name"]: c["verdict"] for c in payload["campaigns"]}
    assert verdicts["Google Ads Uffici 2024"] == "pays_first"
    assert verdicts["Fiera HoReCa Rimini 2024"] == "pays_lifetime"
    assert verdicts["Black Friday Social 2024"] == "does_not_pay"
    assert payload["summary"]["spend"] == pytest.approx(sum(c["spend"] for c in payload["campaigns"]))
    assert {c["channel"] for c in payload["channels"]} >= {"Fiere", "Social", "Google Ads"}
    assert len(pd.read_csv(out_file)) == 6


def test_roi_without_campaigns_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[entities.campaigns]\ntable = "nessuna"\n')
    code, _, err = _run(capsys, monkeypatch, demo_url, "roi", "--config", str(config))
    assert code == 2 and err.startswith("entities.campaigns.table:")


def test_lifecycle_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    out_file = tmp_path / "stages.csv"
    code, out, _ = _run(
        capsys,
        monkeypatch,
        demo_url,
        "lifecycle",
        "--config",
        str(config),
        "--json",
        "--out",
        str(out_file),
        "--as-of",
        "2026-10-31",
    )
    assert code == 0
    payload = json.loads(out)
    assert set(payload["stages"]) == {"new", "reactivated", "loyal", "active", "at_risk", "lapsed"}
    written = pd.read_csv(out_file)
    assert sum(payload["stages"].values()) == len(written)
    moves = payload["transitions"]["moves"]
    assert sum(m["customers"] for m in moves) == len(written)
    assert payload["transitions"]["from"] == "2026-07-31"


def test_upsell_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    out_file = tmp_path / "upsell.xlsx"
    code, out, _ = _run(
        capsys,
        monkeypatch,
        demo_url,
        "upsell",
        "--config",
        str(config),
        "--segment",
        "HoReCa",
        "--json",
        "--out",
        str(out_file),
        "--top",
        "5",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["candidates"] > 0 and len(payload["top"]) == 5
    assert {row["segment"] for row in payload["top"]} == {"HoReCa"}
    values = [row["expected_value"] for row in payload["top"]]
    assert values == sorted(values, reverse=True)
    assert len(pd.read_excel(out_file)) == payload["candidates"]


def test_hash_password(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from service.passwords import check_password

    monkeypatch.setattr("sys.stdin", io.StringIO("una-password-lunga\n"))
    assert cli.main(["hash-password"]) == 0
    stored = capsys.readouterr().out.strip()
    assert check_password(stored, "una-password-lunga")
    monkeypatch.setattr("sys.stdin", io.StringIO("corta\n"))
    assert cli.main(["hash-password"]) == 2


def test_engagement_json_and_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    out_file = tmp_path / "engagement.xlsx"
    argv = ("engagement", "--config", str(config), "--segment", "HoReCa", "--json", "--out", str(out_file))
    code, out, _ = _run(capsys, monkeypatch, demo_url, *argv, "--top", "5")
    assert code == 0
    payload = json.loads(out)
    parts = payload["parts_total"]
    assert parts["cev"] == pytest.approx(sum(parts[p] for p in ("clv", "crv", "civ", "civ_estimated", "ckv")))
    assert parts["crv"] > 0 and parts["ckv"] > 0  # the demo's referral programme and ideas
    assert {row["segment"] for row in payload["top"]} == {"HoReCa"} and len(payload["top"]) == 5
    assert sum(payload["quadrants"].values()) == payload["customers"] == len(pd.read_excel(out_file))
    programme = payload["referral_programme"]
    assert programme["roi"] == pytest.approx(programme["crv"] / programme["rewards"])
    assert payload["share_from_engagement"] == pytest.approx((parts["cev"] - parts["clv"]) / parts["cev"])


def test_engagement_without_the_tables_names_them_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[entities.referrals]\ntable = "nessuna"\n[entities.engagements]\ntable = "nessuna"\n')
    code, _, err = _run(capsys, monkeypatch, demo_url, "engagement", "--config", str(config))
    assert code == 2 and err.startswith("entities.referrals, entities.engagements:")


def test_engagement_names_a_broken_mapping_of_one_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[entities.referrals]\ntable = "segnalazioni"\n')
    code, out, err = _run(capsys, monkeypatch, demo_url, "engagement", "--config", str(config))
    assert code == 0 and err.startswith("entities.referrals.table:") and "its part of the value is 0" in err
    assert "ROI n/d" in out  # no referral: no ROI, not "nan %"
