"""The budget arithmetic against hand-computed figures (month start, mid-month, month end,
leap year, zero traffic, overspend, per-application budgets) and the settings validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedrock_watch.budgets import (
    BudgetGuardSettings,
    BudgetStatus,
    assess,
    emf_documents,
    month_window,
    parse_budgets,
)
from bedrock_watch.contract import BUDGET_METRICS
from bedrock_watch.errors import ConfigurationError


def hourly(start: datetime, hours: int, usd: float) -> list[tuple[datetime, float]]:
    return [(start + timedelta(hours=h), usd) for h in range(hours)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------- month boundaries


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (utc(2026, 3, 1, 0, 0), utc(2026, 3, 1), utc(2026, 4, 1)),
        (utc(2026, 12, 31, 23, 59), utc(2026, 12, 1), utc(2027, 1, 1)),
        (utc(2028, 2, 29, 12), utc(2028, 2, 1), utc(2028, 3, 1)),
        # 23:30 on 31 March in UTC-5 is already 1 April in UTC: months are UTC months.
        (datetime(2026, 3, 31, 23, 30, tzinfo=UTC) + timedelta(hours=5), utc(2026, 4, 1), utc(2026, 5, 1)),
    ],
)
def test_months_are_utc_calendar_months(now: datetime, start: datetime, end: datetime) -> None:
    assert month_window(now) == (start, end)


def test_february_of_a_leap_year_has_696_hours_and_of_a_common_year_672() -> None:
    start, end = month_window(utc(2028, 2, 10))
    assert (end - start) / timedelta(hours=1) == 696
    start, end = month_window(utc(2027, 2, 10))
    assert (end - start) / timedelta(hours=1) == 672


# ---------------------------------------------------------------------------- assessment


def test_month_start_projection_is_bounded_by_the_six_hour_minimum_window() -> None:
    # Given $3 spent in the first 15 minutes of March (744 h) and a $1000 budget
    status = assess([(utc(2026, 3, 1, 0), 3.0)], 1000.0, utc(2026, 3, 1, 0, 15))
    # Then the rate is 3 / 6 h = $0.50/h, not 3 / 0.25 h = $12/h (which would project $8,928)
    assert status.month_to_date_usd == 3.0
    assert status.burn_rate_usd_per_hour == pytest.approx(0.5)
    # 743.75 h remain: 3 + 0.5 * 743.75 = 374.875
    assert status.projected_month_end_usd == pytest.approx(374.875)
    assert status.utilization_percent == pytest.approx(0.3)
    assert status.hours_until_exhausted == pytest.approx(997 / 0.5)


def test_mid_month_uses_the_trailing_day_for_the_burn_rate() -> None:
    # Given $10 every hour of April up to 15 April 12:00 (348 h), then a $20/h surge for the last 3 h
    spend = hourly(utc(2026, 4, 1), 345, 10.0) + hourly(utc(2026, 4, 15, 9), 3, 20.0)
    status = assess(spend, 10_000.0, utc(2026, 4, 15, 12))
    # mtd = 345*10 + 3*20 = 3510; last 24 h = 21*10 + 3*20 = 270 -> 11.25 $/h
    assert status.month_to_date_usd == pytest.approx(3510.0)
    assert status.burn_rate_usd_per_hour == pytest.approx(11.25)
    # April has 720 h; 372 remain: 3510 + 11.25 * 372 = 7695
    assert status.projected_month_end_usd == pytest.approx(7695.0)
    assert status.utilization_percent == pytest.approx(35.1)
    assert status.hours_until_exhausted == pytest.approx((10_000 - 3510) / 11.25)


def test_month_end_with_one_hour_left_and_an_overspent_budget() -> None:
    # Given $5 in each of the 743 full hours of January before 31 Jan 23:00 and a $3000 budget
    status = assess(hourly(utc(2026, 1, 1), 743, 5.0), 3000.0, utc(2026, 1, 31, 23))
    assert status.month_to_date_usd == pytest.approx(3715.0)
    assert status.burn_rate_usd_per_hour == pytest.approx(5.0)
    assert status.projected_month_end_usd == pytest.approx(3720.0)
    # Overspend: utilisation above 100 % and no hours left
    assert status.utilization_percent == pytest.approx(3715 / 30)
    assert status.hours_until_exhausted == 0.0


def test_leap_day_projection_uses_the_29_day_february() -> None:
    # Given $2/h from 1 Feb 2028 to 29 Feb 12:00 (684 h)
    status = assess(hourly(utc(2028, 2, 1), 684, 2.0), 2000.0, utc(2028, 2, 29, 12))
    assert status.month_to_date_usd == pytest.approx(1368.0)
    # 696 - 684 = 12 h remain: 1368 + 2 * 12 = 1392
    assert status.projected_month_end_usd == pytest.approx(1392.0)
    assert status.hours_until_exhausted == pytest.approx((2000 - 1368) / 2)


def test_zero_traffic_projects_zero_and_never_exhausts() -> None:
    status = assess([], 500.0, utc(2026, 6, 10, 8, 30))
    assert status.month_to_date_usd == 0.0
    assert status.burn_rate_usd_per_hour == 0.0
    assert status.projected_month_end_usd == 0.0
    assert status.utilization_percent == 0.0
    assert status.hours_until_exhausted is None


def test_spend_from_last_month_and_from_the_future_is_ignored() -> None:
    spend = [(utc(2026, 5, 31, 23), 100.0), (utc(2026, 6, 1, 0), 4.0), (utc(2026, 6, 1, 2), 50.0)]
    status = assess(spend, 100.0, utc(2026, 6, 1, 1, 30))
    assert status.month_to_date_usd == 4.0


def test_per_application_budgets_are_assessed_on_their_own_spend() -> None:
    now = utc(2026, 9, 2, 0)  # 24 h into September (720 h)
    chat = assess(hourly(utc(2026, 9, 1), 24, 1.0), 100.0, now, application="chat")
    search = assess(hourly(utc(2026, 9, 1), 24, 0.25), 10.0, now, application="search")
    assert (chat.application, chat.utilization_percent) == ("chat", pytest.approx(24.0))
    # chat: 24 + 1 * 696 = 720; search: 6 + 0.25 * 696 = 180 (18x its $10 budget)
    assert chat.projected_month_end_usd == pytest.approx(720.0)
    assert search.utilization_percent == pytest.approx(60.0)
    assert search.projected_month_end_usd == pytest.approx(180.0)
    assert search.hours_until_exhausted == pytest.approx(16.0)


# ---------------------------------------------------------------------------- EMF


def test_emf_documents_publish_the_contract_metrics_with_the_right_dimension_sets() -> None:
    now = utc(2026, 9, 2, 0)
    stack = assess(hourly(utc(2026, 9, 1), 24, 1.0), 1000.0, now)
    idle = BudgetStatus("idle", 10.0, 0.0, 0.0, 0.0, None)
    documents = emf_documents([stack, idle], "BedrockWatch", now)

    directive = documents[0]["_aws"]["CloudWatchMetrics"][0]
    assert documents[0]["_aws"]["Timestamp"] == int(now.timestamp() * 1000)
    assert directive["Namespace"] == "BedrockWatch"
    assert directive["Dimensions"] == [[]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == BUDGET_METRICS
    assert documents[0]["MonthToDateSpendUSD"] == 24.0
    assert documents[0]["BudgetUtilization"] == 2.4
    assert "Application" not in documents[0]

    assert documents[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Application"]]
    assert documents[1]["Application"] == "idle"
    # nothing spent: no finite time to exhaustion, so the metric is left out
    assert "HoursUntilBudgetExhausted" not in documents[1]


# ---------------------------------------------------------------------------- settings


def test_settings_read_the_environment_once() -> None:
    settings = BudgetGuardSettings.from_env(
        {"METRICS_NAMESPACE": "BW", "MONTHLY_BUDGET_USD": "250.5", "APPLICATION_BUDGETS": '{"chat": 100}'}
    )
    assert settings.namespace == "BW"
    assert settings.budgets.monthly_usd == 250.5
    assert settings.budgets.applications == {"chat": 100.0}


@pytest.mark.parametrize(
    ("monthly", "applications", "message"),
    [
        ("0", "{}", "MONTHLY_BUDGET_USD must be a positive number of USD, got '0'"),
        ("-5", "{}", "MONTHLY_BUDGET_USD must be a positive number"),
        ("lots", "{}", "MONTHLY_BUDGET_USD must be a positive number of USD, got 'lots'"),
        ("nan", "{}", "MONTHLY_BUDGET_USD must be a positive number"),
        ("100", '{"chat": 0}', "APPLICATION_BUDGETS['chat'] must be a positive number of USD, got 0"),
        ("100", '{"chat": "ten"}', "APPLICATION_BUDGETS['chat'] must be a positive number"),
        ("100", '{"chat": true}', "APPLICATION_BUDGETS['chat'] must be a positive number"),
        ("100", '{"chat": 10,}', "APPLICATION_BUDGETS is not valid JSON"),
        ("100", "[10]", "APPLICATION_BUDGETS must be a JSON object of application -> monthly USD, got list"),
        ("100", '{"": 10}', "APPLICATION_BUDGETS has an invalid application name ''"),
    ],
)
def test_bad_budgets_fail_with_a_message_naming_the_setting(
    monthly: str, applications: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_budgets(monthly, applications)


def test_a_missing_monthly_budget_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="MONTHLY_BUDGET_USD is required"):
        BudgetGuardSettings.from_env({"METRICS_NAMESPACE": "BW"})


# ---------------------------------------------------------------------------- properties

_SPEND = st.lists(st.tuples(st.integers(0, 743), st.floats(0, 1e4, allow_nan=False)), max_size=60)


@given(spend=_SPEND, minutes=st.integers(1, 31 * 24 * 60 - 1))
def test_projection_is_never_below_spend_and_the_rate_never_exceeds_spend_over_six_hours(
    spend: list[tuple[int, float]], minutes: int
) -> None:
    start = utc(2026, 1, 1)
    now = start + timedelta(minutes=minutes)
    status = assess([(start + timedelta(hours=h), usd) for h, usd in spend], 100.0, now)
    assert status.projected_month_end_usd >= status.month_to_date_usd - 1e-6
    # whatever the spend pattern, the rate is bounded by what was spent over the minimum window
    assert status.burn_rate_usd_per_hour <= status.month_to_date_usd / 6 + 1e-6
