"""Message formatting: limits, HTML validity, escaping and the figures shown."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from html import escape

import pytest

from bot.services.portfolio import BacktestFigures
from bot.services.records import portfolio_view, record_of
from bot.views.draft import Draft
from bot.views.keyboards import (
    SECTOR_CODES,
    callback_value,
    delete_keyboard,
    parse_risk,
    parse_sector_code,
    parse_setting,
    parse_strategy,
    profile_keyboard,
    result_keyboard,
    sectors_keyboard,
    settings_keyboard,
    subscribe_day_keyboard,
    subscribe_frequency_keyboard,
    subscribe_time_keyboard,
)
from bot.views.messages import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    RESULT_FIGURES,
    RISK_FIGURES,
    caption,
    format_backtest,
    format_report,
    money,
    pre_blocks,
    render_portfolio,
    render_risk,
    render_stress,
    split_blocks,
)
from bot.views.texts import profile_text, summary
from smallq.models import Note, NoteKind
from smallq.presentation import HoldingView, present_portfolio
from smallq.profile import make_profile
from smallq.types import RiskLevel, Sector
from tests.bot.fakes import make_report
from tests.e2e.fake_telegram import check_html

PROFILE = make_profile(sectors="IT", capital=10_000)


def test_report_text_has_holdings_cash_figures_and_disclaimer() -> None:
    (text,) = format_report(make_report(PROFILE), today=date(2023, 1, 3))
    check_html(text)
    for expected in ("AAPL", "49.5%", "33", "$4,950.00", "cash left <b>$130.00</b>",
                     "12.0%", "20.0%", "Sharpe <b>0.50</b>", "beta <b>1.10</b>",
                     "not investment advice", "Prices as of 2022-12-28 from the sample source",
                     "fetched 2024-01-02 03:04 UTC"):  # fmt: skip
        assert expected in text, expected
    capital = 10_000  # the one VaR base: the capital, not the $9,870 invested
    # historical 1-day VaR/CVaR of the canned report: 0.02*conf and 0.03*conf of the capital
    for conf in (0.95, 0.99):
        var, cvar = 0.02 * conf * capital, 0.03 * conf * capital
        assert f"VaR {conf:.0%}: {money(var)} · CVaR {money(cvar)}" in text
    assert "on your capital of $10,000.00" in text
    assert "one day in twenty, expect to lose at least this much" in text
    assert "50.0%" not in text  # AAPL's target is 0.5 point from the 49.5% bought: not shown


def test_holdings_show_the_target_only_where_whole_shares_missed_it() -> None:
    report = make_report(PROFILE, prices=(150.0, 250.0, 3000.0))  # JNJ (20%) is not bought
    (text,) = format_report(report, today=date(2023, 1, 3))
    check_html(text)
    jnj = next(line for line in text.splitlines() if line.startswith("JNJ"))
    assert jnj.split()[1:3] == ["0.0%", "20.0%"]  # bought 0%, target 20%
    aapl = next(line for line in text.splitlines() if line.startswith("AAPL"))
    assert aapl.split()[1:3] == ["49.5%", "33"]  # within half a point: no target
    assert "Target is the optimizer's aim" in text


def test_notes_name_fallbacks_unbought_and_stale_data_and_are_escaped() -> None:
    report = make_report(
        PROFILE,
        fallback=True,
        notes=("Dropped <XYZ> & co: too short",),
        prices=(150.0, 250.0, 3000.0),
    )  # JNJ at 3,000 cannot be bought
    (text,) = format_report(report, today=date(2023, 3, 1))
    check_html(text)
    assert "fell back: “best return for its risk” could not be used" in text
    assert "aim at “lowest volatility”" in text
    assert "Not bought (a whole share does not fit its weight): JNJ" in text
    assert "Dropped &lt;XYZ&gt; &amp; co" in text
    assert "These prices are 63 days old." in text


def test_long_portfolio_is_split_into_valid_messages() -> None:
    record = record_of(make_report(PROFILE))
    holdings = tuple(HoldingView(f"T{i:03d}", None, "Energy", 3.0, 33.0, 99.0, 0.01, 0.0099)
                     for i in range(100))  # fmt: skip
    notes = tuple(Note(NoteKind.DATA, f"note {i} " + "x" * 300) for i in range(15))
    view = replace(portfolio_view(record), holdings=holdings, notes=notes)
    messages = render_portfolio(view)
    assert len(messages) > 2
    for text in messages:
        assert len(text) <= MESSAGE_LIMIT
        check_html(text)
    joined = "\n".join(messages)
    assert all(f"T{i:03d}" in joined for i in range(100))
    assert joined.count("Ticker") == joined.count("<pre>")  # each table block has a header


def test_split_blocks_respects_the_limit_and_keeps_order() -> None:
    blocks = ["a" * 3000, "b" * 3000, "c" * 10, "d\n" * 3000]
    messages = split_blocks(blocks, limit=4096)
    assert all(len(m) <= 4096 for m in messages)
    assert "".join(messages).replace("\n", "") == "".join(blocks).replace("\n", "")
    assert messages[0] == "a" * 3000 and messages[1].startswith("b" * 3000 + "\n\nccc")


def test_pre_blocks_never_exceed_the_limit() -> None:
    blocks = pre_blocks(["<row> " * 20] * 400, header="H", limit=1000)
    assert len(blocks) > 1
    for block in blocks:
        assert len(block) <= 1000 and block.startswith("<pre>H\n") and block.endswith("</pre>")
        check_html(block)


def test_caption_is_cut_to_1024() -> None:
    assert caption("x" * 5000) == "x" * 1023 + "…"
    assert len(caption("x" * 5000)) == CAPTION_LIMIT
    assert caption("short") == "short"


def test_risk_and_stress_texts() -> None:
    record = record_of(make_report(PROFILE))
    (risk,) = render_risk(portfolio_view(record))
    check_html(risk)
    capital = record.capital  # money on the capital, as in the result and the CLI
    assert money(0.02 * 0.99 * math.sqrt(10) * capital) in risk  # 10-day 99% historical
    assert "skew" not in risk and "normal curve" in risk  # method names for people
    (stress,) = render_stress(portfolio_view(record))
    check_html(stress)
    assert "2008 crisis: -40.0% (" + money(-0.4 * capital) + ")" in stress
    assert money(-0.4 * capital) == "-$4,000.00"
    assert "Rates +2% (estimated)" in stress and "2,000 paths" in stress


def test_backtest_text_is_escaped_preformatted() -> None:
    (text,) = format_backtest("a < b\nCAGR 5%", date(2018, 1, 1), date(2022, 12, 28))
    check_html(text)
    assert "<pre>a &lt; b\nCAGR 5%</pre>" in text and "Jan 2018 → Dec 2022" in text


def test_backtest_phone_summary_is_a_few_short_lines() -> None:
    figures = BacktestFigures(0.123, 0.101, 0.254, 10_000.0, 61_700.0)
    wide = "x" * 218  # the CLI's line: not shown when the figures are there
    (text,) = format_backtest(wide, date(2018, 1, 1), date(2022, 12, 28), figures)
    check_html(text)
    lines = text.split("\n")
    assert wide not in text and len(lines) <= 6
    assert all(len(line) <= 80 for line in lines)
    assert "$10,000.00 → <b>$61,700.00</b>" in text
    assert "12.3%" in text and "S&amp;P 500 10.1%" in text and "-25.4%" in text


def test_money_and_nan() -> None:
    assert money(1234.5) == "$1,234.50" and money(math.nan) == "n/a"
    assert money(10, "EUR") == "10.00 EUR"


def test_summary_and_profile_texts() -> None:
    draft = Draft(sectors=["IT", "HC"], capital=5000.0, risk=1, strategy="low_vol")
    text = summary(draft)
    check_html(text)
    assert "Information Technology, Health Care" in text and "$5,000.00" in text
    assert "1 · conservative (the calmest mix of your stocks, max 25% per stock)" in text
    later = summary(Draft(sectors=["IT"], capital=5000.0, risk=2))
    assert "2 · cautious (25% of the way from the calmest to the most aggressive mix" in later
    shown = profile_text(replace(PROFILE, max_weight=0.3, fractional=True))
    assert "max weight 30%" in shown and "fractional shares on" in shown


# --------------------------------------------------------------------------- keyboards
def test_callback_parsing_rejects_forged_values() -> None:
    assert callback_value("sector:IT", "sector") == "IT"
    assert callback_value("risk:3", "sector") is None and callback_value(None, "risk") is None
    assert parse_sector_code("IT") == "IT" and parse_sector_code("done") == "done"
    assert parse_sector_code("tech") is None and parse_sector_code("") is None
    assert parse_risk("5") is RiskLevel.AGGRESSIVE
    for bad in ("0", "6", "3.0", "-1", "", None):
        assert parse_risk(bad) is None
    assert parse_strategy("low_vol") is not None and parse_strategy("LOW_VOL") is None
    assert parse_setting("topn:10") == ("topn", "10")
    for bad in ("topn:11", "topn", "maxw:0.5", "x:y", "frac:on:off", None):
        assert parse_setting(bad) is None


def test_keyboards_fit_telegram_limits() -> None:
    owner = 2**63 - 1
    markups = [sectors_keyboard(list(SECTOR_CODES)), result_keyboard(10**15),
               settings_keyboard({"topn": "10"}, owner), delete_keyboard(owner),
               profile_keyboard(owner), subscribe_frequency_keyboard(),
               subscribe_day_keyboard("monthly"),
               subscribe_time_keyboard("monthly", 31)]  # fmt: skip
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert len(str(button.callback_data).encode()) <= 64
    labels = [b.text for row in sectors_keyboard(["IT"]).inline_keyboard for b in row]
    assert "✓ Information Technology" in labels and "Done (1 selected)" in labels
    assert set(SECTOR_CODES.values()) == set(Sector)


def test_draft_to_profile_keeps_base_settings() -> None:
    base = replace(PROFILE, top_n=15, fractional=True, max_weight=0.3)
    draft = Draft(sectors=["HC"], capital=2500.0, risk=5, strategy="momentum")
    profile = draft.to_profile(base)
    assert profile.sectors == (Sector.HEALTH_CARE,) and profile.capital == 2500
    assert (profile.top_n, profile.fractional, profile.max_weight) == (15, True, 0.3)
    with pytest.raises(Exception, match="at least one sector"):
        Draft(sectors=[], capital=100.0).to_profile()


def test_engine_notes_that_repeat_the_views_fields_are_not_shown_twice() -> None:
    from bot.views.messages import portfolio_notes

    profile = make_profile(sectors="tech", capital=10_000.0)
    record = record_of(make_report(profile, fallback=True))
    notes = (
        Note(NoteKind.FALLBACK, "max_sharpe was not used", (("objective", "max_sharpe"),)),
        Note(NoteKind.FRESHNESS, "Sample data up to 2022-12-28."),
        Note(NoteKind.DATA, "AAPL: 1 missing day(s) filled with the previous close"),
    )
    shown = portfolio_notes(replace(portfolio_view(record), notes=notes))
    texts = [n.text for n in shown]
    assert "max_sharpe was not used" not in texts and "Sample data up to 2022-12-28." not in texts
    assert "AAPL: 1 missing day(s) filled with the previous close" in texts
    assert sum("fell back" in t for t in texts) == 1
    assert sum(t.startswith("Prices as of") for t in texts) == 1
    assert [n.kind for n in shown] == [NoteKind.FALLBACK, NoteKind.DATA, NoteKind.FRESHNESS]


def test_var_money_is_one_number_in_cli_json_and_bot() -> None:
    """Same build, same VaR in money on the same base (the capital) in every front end."""
    from smallq.report import format_report as cli_text
    from smallq.report import report_to_dict

    report = make_report(PROFILE)  # 10,000 capital, 9,870 invested
    expected = money(0.02 * 0.95 * 10_000)  # the canned 1-day historical VaR 95% is 1.9%
    on_invested = money(0.02 * 0.95 * 9_870)
    assert (expected, on_invested) == ("$190.00", "$187.53")
    (html,) = format_report(report)
    stored = render_portfolio(portfolio_view(record_of(report)))
    text = cli_text(report)
    document = report_to_dict(report)
    json_amount = next(f for f in document["figures"] if f["key"] == "var_95_amount")["value"]
    assert f"VaR 95%: {expected}" in html and on_invested not in html
    assert stored == [html]
    assert expected in text and on_invested not in text
    assert money(json_amount) == expected and document["var_base"] == "capital"
    assert "capital" in html and "on the capital" in text


#: method names people should never see (the CLI shows them only with --verbose)
JARGON = ("max_sharpe", "min_volatility", "efficient_risk", "max_utility", "cornish_fisher",
          "student_t", "ledoit", "CLARABEL", "OSQP", "ECOS", "hrp")  # fmt: skip


def test_every_figure_shown_is_explained_without_method_names() -> None:
    view = present_portfolio(make_report(PROFILE, fallback=True))
    for text in (*render_portfolio(view), *render_risk(view), *render_stress(view)):
        check_html(text)
        for word in JARGON:
            assert word not in text, word
    (result,) = render_portfolio(view)
    (risk,) = render_risk(view)
    for key, shown in [(k, result) for k in RESULT_FIGURES] + [(k, risk) for k in RISK_FIGURES]:
        figure = view.figure(key)
        assert f"• {escape(figure.label)}: {escape(figure.explanation)}" in shown, key
