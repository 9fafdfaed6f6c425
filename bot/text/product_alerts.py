"""Strings of the product alerts (metrics/products/alerts.py, told by handlers/alerts.py), in English
and Chinese."""

from __future__ import annotations

PRODUCT_ALERT_MESSAGES: dict[str, dict[str, str]] = {
    # the headline of each kind
    "palert_stock_risk": {
        "en": "{product} runs short: {cover} days of cover with what is on order ({on_hand} on hand, {on_order} on "
              "order), lead time {lead} days; {stake} of GMV at stake.",
        "zh": "{product} 即将缺货：含在途可售 {cover} 天（在库 {on_hand}，在途 {on_order}），补货周期 {lead} 天，"
              "潜在损失销售额 {stake}。"},
    "palert_stock_risk_at": {
        "en": "{product} runs short at {warehouse}: {cover} days of cover with what is on order ({on_hand} on hand, "
              "{on_order} on order), lead time {lead} days; {stake} of GMV at stake.",
        "zh": "{product} 在 {warehouse} 即将缺货：含在途可售 {cover} 天（在库 {on_hand}，在途 {on_order}），"
              "补货周期 {lead} 天，潜在损失销售额 {stake}。"},
    "palert_also_short": {"en": "Also short: {least}.", "zh": "同样不足：{least}。"},
    "palert_least": {"en": "{warehouse} {cover} d ({on_hand} on hand, {on_order} on order)",
                     "zh": "{warehouse} {cover} 天（在库 {on_hand}，在途 {on_order}）"},
    "palert_stockout": {
        "en": "{product} is out of stock at {warehouse} since {since} ({days} d); lost sales so far about "
              "{lost} ({units} units).",
        "zh": "{product} 在 {warehouse} 自 {since} 起断货（{days} 天），估算已损失销售额 {lost}（{units} 件）。"},
    "palert_stockout_unknown": {
        "en": "{product} is out of stock at {warehouse} since {since} ({days} d); it sold nothing there before, "
              "so no lost-sales estimate.",
        "zh": "{product} 在 {warehouse} 自 {since} 起断货（{days} 天）；此前在该仓无销量，无法估算损失。"},
    "palert_everywhere": {"en": "every warehouse", "zh": "所有仓库"},
    "palert_also_everywhere": {"en": "It is out everywhere.", "zh": "所有仓库均已断货。"},
    "palert_on_time": {
        "en": "On-time shipping at {slice}: {actual} of the orders placed on {day} shipped within {hours} h, "
              "normally {expected} ({late} late of {shipped}).",
        "zh": "{slice} 及时发货率：{day} 下单的订单 {actual} 在 {hours} 小时内发出，通常为 {expected}"
              "（已发 {shipped} 单，{late} 单超时）。"},
    "palert_delivery": {
        "en": "Deliveries by {slice} took {actual} days (median of {count} parcels delivered on {day}), "
              "normally {expected}.",
        "zh": "{slice} 配送时长 {actual} 天（{day} 签收的 {count} 个包裹的中位数），通常为 {expected} 天。"},
    "palert_returns": {
        "en": "Returns for {reason}{scope}: {count} of {base} returned lines on {day} ({actual}), normally {expected}.",
        "zh": "{scope}因「{reason}」退货：{day} 退货 {base} 行中有 {count} 行（{actual}），通常为 {expected}。"},
    "palert_returns_in": {"en": " in {category}", "zh": "{category}品类"},
    "palert_returns_sku": {
        "en": "Returns of {product}: {count} of {base} returned lines on {day} ({actual}), normally {expected}.",
        "zh": "{product} 退货：{day} 退货 {base} 行中有 {count} 行（{actual}），通常为 {expected}。"},
    "palert_since": {"en": "Since {since}.", "zh": "自 {since} 起。"},
    # root-cause hints
    "palert_hint_sku": {"en": "Most of them: {items}.", "zh": "主要来自：{items}。"},
    "palert_hint_reason": {"en": "Mostly for: {items}.", "zh": "主要原因：{items}。"},
    "palert_hint_where": {"en": "By warehouse: {items}.", "zh": "各仓：{items}。"},
    "palert_hint_carrier": {"en": "By carrier: {items}.", "zh": "各承运商：{items}。"},
    "palert_hint_warehouse": {"en": "By warehouse: {items}.", "zh": "各仓：{items}。"},
    "palert_days": {"en": "{value} d", "zh": "{value} 天"},
    "palert_slice_warehouse": {"en": "warehouse {value}", "zh": "仓库 {value}"},
    "palert_slice_carrier": {"en": "carrier {value}", "zh": "承运商 {value}"},
    # what the recovery note calls the alert
    "palert_label_stock_risk": {"en": "Stock risk of {sku}", "zh": "{sku} 缺货风险"},
    "palert_label_stockout_began": {"en": "Stock-out of {sku} at {warehouse}", "zh": "{sku} 在 {warehouse} 断货"},
    "palert_label_on_time_drop": {"en": "On-time shipping at {slice}", "zh": "{slice} 及时发货率"},
    "palert_label_delivery_slow": {"en": "Delivery time of {slice}", "zh": "{slice} 配送时长"},
    "palert_label_returns_spike": {"en": "Returns for {what}", "zh": "{what} 退货"},
    # buttons
    "btn_sku": {"en": "SKU {sku}", "zh": "商品 {sku}"},
    "btn_stock": {"en": "Stock", "zh": "库存"},
    "btn_fulfilment_by": {"en": "Fulfilment by {by}", "zh": "按{by}看履约"},
    "btn_returns_by_reason": {"en": "Returns by reason", "zh": "按原因看退货"},
    "palert_by_warehouse": {"en": "warehouse", "zh": "仓库"},
    "palert_by_carrier": {"en": "carrier", "zh": "承运商"},
}
