"""Strings of the stock-and-fulfilment section of the digest (handlers/digest.py, `with stock`) and of
the campaign report's units and sold-out SKUs (handlers/planning/campaigns.py), in English and Chinese."""

from __future__ import annotations

DIGEST_PRODUCT_MESSAGES: dict[str, dict[str, str]] = {
    # ---- subscribing -----------------------------------------------------------------------------
    "section_stock": {"en": "stock and fulfilment", "zh": "库存与履约"},
    "sub_with": {"en": "with {sections}", "zh": "含{sections}"},
    "subscribe_section": {
        "en": "`with` takes a section of the digest: {choices}, e.g. `with stock` (got '{text}').",
        "zh": "`with` 后面需要日报的板块：{choices}，例如 `with stock`（收到「{text}」）。",
    },
    "digest_now_usage": {"en": "Use `digest now`, `digest now weekly` or `digest now with stock`.",
                         "zh": "请使用 `digest now`、`digest now weekly` 或 `digest now with stock`。"},
    # ---- the section -------------------------------------------------------------------------------
    "digest_stock_summary": {"en": "Stock as of {as_of}, SKUs: {parts}.", "zh": "库存（截至 {as_of}）：{parts}。"},
    "digest_stock_summary_late": {
        "en": "Stock as of {as_of}, the latest snapshot (none for {day} yet), SKUs: {parts}.",
        "zh": "库存（截至 {as_of} 的最新快照，{day} 的尚未到达）：{parts}。",
    },
    "digest_stock_outs": {"en": "{count} out of stock", "zh": "断货 {count} 个"},
    "digest_stock_outs_none": {"en": "none out of stock", "zh": "无断货"},
    "digest_stock_partial": {"en": "{count} out at a warehouse only", "zh": "部分仓库断货 {count} 个"},
    "digest_stock_risk": {"en": "{count} about to run out (stock and orders would not last the lead time)",
                          "zh": "即将断货 {count} 个（在库加在途撑不到补货周期）"},
    "digest_stock_outs_table": {"en": "Out of stock ({count})", "zh": "断货商品（{count} 个）"},
    "digest_stock_partial_table": {"en": "Out at a warehouse, in stock at another ({count})",
                                   "zh": "部分仓库断货、其他仓库有货（{count} 个）"},
    "digest_stock_risk_table": {"en": "About to run out ({count})", "zh": "即将断货（{count} 个）"},
    "digest_stock_more": {"en": "… {count} more", "zh": "… 另有 {count} 个"},
    "digest_stock_no_snapshot": {"en": "No stock snapshot on or before {day}.", "zh": "{day} 及之前没有库存快照。"},
    "digest_on_time": {
        "en": "On-time ship rate (within {hours} h) of the orders of {period}: {rate}, {on_time} of {due} due",
        "zh": "{period} 订单及时发货率（{hours} 小时内发货）：{rate}，应发 {due} 单中 {on_time} 单及时",
    },
    "digest_on_time_previous": {"en": "{period}: {rate}", "zh": "{period}：{rate}"},
    "digest_on_time_worst": {"en": "lowest warehouse {warehouse}: {rate} of its shipped orders",
                             "zh": "最低仓库 {warehouse}：{rate}（按其已发订单）"},
    "digest_on_time_none": {"en": "On-time ship rate of the orders of {period}: no order is due yet.",
                            "zh": "{period} 订单及时发货率：尚无应发订单。"},
    "digest_stock_needs": {
        "en": "Stock and fulfilment left out: it needs the {tables} table(s) (`opsbot check` shows what is there).",
        "zh": "未显示库存与履约：需要 {tables} 表（`opsbot check` 可查看现有数据）。",
    },
    "digest_part_needs": {"en": "{part} left out: it needs the {tables} table(s).",
                          "zh": "未显示{part}：需要 {tables} 表。"},
    "digest_part_stock": {"en": "Stock-outs and cover", "zh": "断货与可售天数"},
    "digest_part_on_time": {"en": "The on-time ship rate", "zh": "及时发货率"},
    # ---- the campaign report -------------------------------------------------------------------------
    "campaign_sold_out": {"en": "Sold out during the campaign ({count})", "zh": "活动期间断货（{count} 个）"},
    "campaign_sold_out_first": {"en": "Out from", "zh": "断货开始"},
    "campaign_sold_out_days": {"en": "Days out", "zh": "断货天数"},
    "campaign_sold_out_note": {
        "en": "Sold out: at zero stock at a warehouse from a day of the campaign on; days and lost sales are "
        "those within the campaign, the lost sales at the SKU's pace before it ran out (during a campaign the "
        "real loss is likely higher).",
        "zh": "断货：某仓库的库存在活动期间的某天起为零；天数与损失只计活动期内，损失按该商品断货前的日均销量估算"
        "（活动期间的实际损失可能更高）。",
    },
    "campaign_sold_out_none": {"en": "No SKU sold out during the campaign.", "zh": "活动期间没有商品断货。"},
}
