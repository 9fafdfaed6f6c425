"""Strings saying what the data does not cover (metrics/coverage.py), in English and Chinese."""

from __future__ import annotations

COVERAGE_MESSAGES: dict[str, dict[str, str]] = {
    "table_orders": {"en": "orders", "zh": "订单"},
    "table_traffic": {"en": "traffic", "zh": "流量"},
    "table_marketing_spend": {"en": "marketing spend", "zh": "推广费用"},
    # why a table says nothing about a period (a clause: composed by the cov_* messages below)
    "reason_future": {"en": "{period} has not happened yet", "zh": "{period} 尚未到来"},
    "reason_before": {"en": "the {table} data starts on {first}", "zh": "{table}数据从 {first} 开始"},
    "reason_after": {"en": "the {table} data ends on {last}", "zh": "{table}数据截至 {last}"},
    "reason_empty": {"en": "there is no {table} data", "zh": "没有{table}数据"},
    "reason_missing_table": {"en": "the warehouse has no {table} table ({source})",
                             "zh": "数据仓库中没有{table}表（{source}）"},
    "reason_missing_column": {"en": "the {table} table has no {columns} column ({source})",
                              "zh": "{table}表缺少 {columns} 列（{source}）"},
    "reason_not_recorded": {"en": "that data is not recorded per {dimensions}",
                            "zh": "该数据未按 {dimensions} 记录"},
    "cov_na": {"en": "n/a for {metrics}: {reason}.", "zh": "{metrics} 无数据：{reason}。"},
    "cov_future": {"en": "{period} has not happened yet: there is no data for it.",
                   "zh": "{period} 尚未到来，还没有数据。"},
    "cov_no_data": {"en": "No data for {period}: {reason}.", "zh": "{period} 没有数据：{reason}。"},
    "cov_compare_na": {
        "en": "Change n/a for {metrics}: no data for {period} to compare with ({reason}).",
        "zh": "{metrics} 的变化无法计算：对比期 {period} 没有数据（{reason}）。",
    },
    "cov_partial": {"en": "Only part of {period} is covered: {parts}.", "zh": "{period} 仅部分有数据：{parts}。"},
    "cov_compare_partial": {"en": "The comparison period {period} is only partly covered: {parts}.",
                            "zh": "对比期 {period} 仅部分有数据：{parts}。"},
    "part_from": {"en": "{table} data from {first}", "zh": "{table}数据从 {first} 起"},
    "part_until": {"en": "{table} data until {last}", "zh": "{table}数据截至 {last}"},
    "part_between": {"en": "{table} data from {first} until {last}", "zh": "{table}数据 {first} 至 {last}"},
    "cov_title": {"en": "No data · {period}", "zh": "无数据 · {period}"},
    "refund_incomplete": {
        "en": "{metric} is not final: refunds of orders from {first} on are still coming in (a {days}-day refund "
              "window, {how}), so it will rise, and its change is not marked better or worse.",
        "zh": "{metric}尚未最终确定：{first} 起的订单仍在陆续退款（退款窗口 {days} 天，{how}），数值还会上升，"
              "其变化不标为好转或恶化。",
    },
    "window_configured": {"en": "as configured", "zh": "按配置"},
    "window_measured": {"en": "measured from the data", "zh": "由数据测得"},
    "trend_refund_incomplete": {
        "en": "Days from {first} on are drawn hollow: their refunds are still coming in ({days}-day window, {how}).",
        "zh": "{first} 起的日期以空心表示：这些订单仍在陆续退款（退款窗口 {days} 天，{how}）。",
    },
    "part_days": {"en": " ({covered} of {days} days have data)", "zh": "（{days} 天中 {covered} 天有数据）"},
}
