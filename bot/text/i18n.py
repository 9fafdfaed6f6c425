"""Locale formatting of numbers, money, percentages and changes (Babel)."""

from __future__ import annotations

from babel.numbers import format_currency, format_decimal, format_percent

LOCALES = {"en": "en_US", "zh": "zh_CN"}


def locale_of(lang: str) -> str:
    return LOCALES.get(lang, "en_US")


def fmt_money(value: float, lang: str, currency: str) -> str:
    # cents matter on small amounts (AOV, CAC); on big ones they are noise
    fmt = "¤#,##0" if abs(value) >= 1000 else "¤#,##0.00"
    return format_currency(value, currency, format=fmt, locale=locale_of(lang), currency_digits=False)


def fmt_count(value: float, lang: str) -> str:
    return format_decimal(round(value), locale=locale_of(lang))


def fmt_percent(value: float, lang: str) -> str:
    return format_percent(value, format="#,##0.00%", locale=locale_of(lang))


def fmt_decimal(value: float, lang: str) -> str:
    """A measured quantity that is not a count: days of cover, units a day, hours."""
    return format_decimal(value, format="#,##0.0", locale=locale_of(lang))


def fmt_ratio(value: float, lang: str) -> str:
    return format_decimal(value, format="#,##0.00", locale=locale_of(lang)) + "×"


def fmt_value(value: float | None, unit: str, lang: str, currency: str, na: str = "n/a") -> str:
    if value is None:
        return na
    if unit == "money":
        return fmt_money(value, lang, currency)
    if unit == "percent":
        return fmt_percent(value, lang)
    if unit == "ratio":
        return fmt_ratio(value, lang)
    return fmt_count(value, lang)


def fmt_change_pct(pct: float | None, lang: str) -> str | None:
    """A relative change as '+12.3%'; None when there is nothing to compare with."""
    if pct is None:
        return None
    return format_decimal(pct, format="+#,##0.0;-#,##0.0", locale=locale_of(lang)) + "%"


def fmt_change_points(delta: float | None, lang: str) -> str | None:
    """A change of a rate in percentage points: comparing 2% with 3% is '+1.0 pp', not '+50%'."""
    if delta is None:
        return None
    return format_decimal(delta * 100, format="+#,##0.00;-#,##0.00", locale=locale_of(lang)) + " pp"
