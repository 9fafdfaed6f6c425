"""Every user-visible string, in English and Chinese.

Handlers and the core look strings up by key (`t(lang, key, **params)`), so a
reply is said in the chat's language and no English hides in a handler.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # ---- errors -------------------------------------------------------------------
    "error_title": {"en": "Sorry, I can't do that", "zh": "抱歉，无法执行"},
    "empty": {
        "en": "I got an empty message. Type a command, for example `kpi gmv yesterday`, or `help`.",
        "zh": "收到空消息。请输入命令，例如 `kpi gmv yesterday`，或输入 `help`。",
    },
    "too_long": {
        "en": "That message is {length} characters long; commands are at most {limit}. Shorten it and try again.",
        "zh": "消息长度为 {length} 个字符，命令最多 {limit} 个字符。请缩短后重试。",
    },
    "unknown_command": {
        "en": "Unknown command '{name}'.{suggestion} Type `help` to see every command.",
        "zh": "未知命令「{name}」。{suggestion}输入 `help` 查看全部命令。",
    },
    "did_you_mean": {"en": " Did you mean {choice}?", "zh": "您是想输入 {choice} 吗？"},
    # ---- what an adapter adds where a platform lacks something ---------------------
    "buttons_as_hint": {"en": "Reply to the robot with: {commands}", "zh": "@机器人发送：{commands}"},
    "continued": {"en": "(continued)", "zh": "（续）"},
    # WeCom group robots: the adapter's own words (the chat language is guessed from the reply)
    "wecom_actions": {"en": "Run in opsbot (Feishu, DingTalk, Slack, Telegram): {commands}",
                      "zh": "在 opsbot（飞书、钉钉等）中发送：{commands}"},
    "wecom_chart_unsent": {"en": "Chart “{title}” cannot be pushed to WeCom ({why}).",
                           "zh": "图表“{title}”无法推送到企业微信（{why}）。"},
    "wecom_file_unsent": {"en": "Export {name} cannot be pushed to WeCom ({why}); run the command again elsewhere.",
                          "zh": "导出文件 {name} 无法推送到企业微信（{why}），请在其他平台重新执行命令获取。"},
    "file_left_out": {"en": "Export {name} could not be sent ({why}).", "zh": "导出文件 {name} 无法发送（{why}）。"},
    "not_a_command": {
        "en": "I understand commands, not questions in words: start with a command word, e.g. "
        "`kpi gmv last week by channel`, `trend gmv last 30d` or `top category by gmv mtd`. "
        "Type `help` to see every command.",
        "zh": "opsbot 只理解命令，不理解自然语言提问：请以命令词开头，例如 `kpi gmv 上周 by channel`、"
        "`trend gmv 近30天` 或 `top category by gmv 本月`。输入 `help` 查看全部命令。",
    },
    "unknown_metric": {
        "en": "Unknown metric '{name}'.{suggestion} Metrics: {choices}.",
        "zh": "未知指标「{name}」。{suggestion}可用指标：{choices}。",
    },
    "bad_period": {
        "en": "I can't read '{text}' as a period. Try yesterday, last 7d, this month, mtd, 2026-11, 2026Q4, "
        "2026-W47 or 2026-11-01..2026-11-07.",
        "zh": "无法识别时间段「{text}」。可以试试：昨天、近7天、本月、上月、2026-11、2026Q4、2026-11-01..2026-11-07。",
    },
    "two_periods": {
        "en": "I found two periods ('{first}' and '{second}'). Give one period, and compare with `vs`, "
        "e.g. `last 7d vs previous`.",
        "zh": "发现两个时间段（「{first}」和「{second}」）。请只给一个时间段，并用 `vs` 对比，例如 `近7天 vs previous`。",
    },
    "bad_compare": {
        "en": "I can't read what to compare with after 'vs' ('{text}'). Use `vs previous`, `vs last year` "
        "or `vs <period>`.",
        "zh": "无法识别 vs 之后的对比对象（「{text}」）。请使用 `vs previous`（环比）、`vs last year`（同比）或 `vs <时间段>`。",
    },
    "unknown_dimension": {
        "en": "Unknown dimension '{name}'.{suggestion} Dimensions: {choices}.",
        "zh": "未知维度「{name}」。{suggestion}可用维度：{choices}。",
    },
    "unknown_value": {
        "en": "No orders have {dimension} = '{value}'.{suggestion}",
        "zh": "没有 {dimension} =「{value}」的订单。{suggestion}",
    },
    "bad_filter": {
        "en": "I can't read the condition '{text}'. Write conditions as dimension=value (or !=, or a,b for "
        "several values), joined with `and`, e.g. `where region=east and channel=search`.",
        "zh": "无法识别条件「{text}」。条件格式为 维度=值（或 !=，多个值用逗号），多个条件用 and 连接，"
        "例如 `where region=east and channel=search`。",
    },
    "missing_dimension": {
        "en": "`by` needs a dimension after it, e.g. `by channel`. Dimensions: {choices}.",
        "zh": "`by` 后面需要一个维度，例如 `by channel`。可用维度：{choices}。",
    },
    "missing_metric": {
        "en": "`by` needs a metric after it, e.g. `by gmv`. Metrics: {choices}.",
        "zh": "`by` 后面需要一个指标，例如 `by gmv`。可用指标：{choices}。",
    },
    "missing_condition": {
        "en": "`where` needs a condition after it, e.g. `where region=east`.",
        "zh": "`where` 后面需要条件，例如 `where region=east`。",
    },
    "usage_line": {"en": "Usage: {usage}", "zh": "用法：{usage}"},
    "table_not_mapped": {
        "en": "This needs the {table} table, which the warehouse does not have. Map it in "
        "[warehouse.tables.{table}] (columns {columns}) or import it with `opsbot ingest {table}`; "
        "`opsbot check` shows what is there.",
        "zh": "此问题需要 {table} 表，但数据仓库中没有。请在 [warehouse.tables.{table}] 中映射（列：{columns}），"
        "或用 `opsbot ingest {table}` 导入；`opsbot check` 可查看现有数据。",
    },
    "columns_not_mapped": {
        "en": "The {table} table lacks {columns}. Map them in [warehouse.tables.{table}] columns; "
        "`opsbot check` shows what is there.",
        "zh": "{table} 表缺少列：{columns}。请在 [warehouse.tables.{table}] columns 中映射；`opsbot check` 可查看现有数据。",
    },
    "not_allowed": {
        "en": "This chat is not allowed to use opsbot. Ask an admin to add {chat} to the allow-list.",
        "zh": "此会话无权使用 opsbot。请联系管理员将 {chat} 加入白名单。",
    },
    "admin_only": {
        "en": "Only admins can use `{command}`. Ask an admin, or ask to be made one ({user}).",
        "zh": "只有管理员可以使用 `{command}`。请联系管理员（您的 ID：{user}）。",
    },
    "chat_settings_admin_only": {
        "en": "`{command}` changes this chat for everyone, so in a group only an admin can do it. Ask an admin "
              "({user} is not one), or set it in a direct message with me, where it is yours alone.",
        "zh": "`{command}` 会改变本群所有人的设置，群聊中只有管理员可以修改。请联系管理员（{user} 不是管理员），"
              "或在与我的私聊中设置（仅对您自己生效）。",
    },
    "unbalanced_quote": {
        "en": "The quote {quote} that opens `{text}` is never closed. Close it to write a name with spaces, "
              "e.g. \"Black Friday\".",
        "zh": "「{text}」开头的引号 {quote} 没有闭合。带空格的名称请用成对的引号，例如 \"Black Friday\" 或「黑色星期五」。",
    },
    "incident": {
        "en": "Something went wrong on my side (incident {incident}). The team can find the details in the log.",
        "zh": "系统内部出错（事件编号 {incident}）。运维人员可在日志中查看详情。",
    },
    "data_unavailable": {
        "en": "The data source is unavailable right now; try again in a minute (incident {incident}).",
        "zh": "数据源暂时不可用，请稍后再试（事件编号 {incident}）。",
    },
    # ---- kpi ------------------------------------------------------------------------
    "kpi_title": {"en": "KPIs · {period}", "zh": "核心指标 · {period}"},
    "kpi_by_title": {"en": "KPIs by {dimension} · {period}", "zh": "按{dimension}拆分 · {period}"},
    "card_deltas": {"en": "{day} d/d · {week} w/w", "zh": "日环比 {day} · 周同比 {week}"},
    "card_deltas_period": {"en": "{day} vs previous · {week} w/w", "zh": "环比 {day} · 周同比 {week}"},
    "card_compare_day": {"en": "d/d: compared with the day before ({period}).", "zh": "日环比：对比前一天 {period}。"},
    "card_compare": {"en": "w/w: compared with {period}.", "zh": "周同比：对比上周同期 {period}。"},
    "compared_with": {"en": "Compared with {period}.", "zh": "对比 {period}。"},
    "filtered_by": {"en": "Only {conditions}.", "zh": "筛选：{conditions}。"},
    "unavailable": {
        "en": "n/a for {metrics}: that data is not recorded per {dimensions}.",
        "zh": "{metrics}无法计算：该数据未按{dimensions}记录。",
    },
    "na": {"en": "n/a", "zh": "无"},
    "partial_note": {"en": "Today so far, until {time}.", "zh": "今日截至 {time}。"},
    "column_value": {"en": "{metric}", "zh": "{metric}"},
    "column_change": {"en": "Δ", "zh": "变化"},
    "rows_more": {"en": "…and {count} more.", "zh": "……另有 {count} 项。"},
    "footer_source": {"en": "opsbot · business day in {zone}", "zh": "opsbot · 业务时区 {zone}"},
    # ---- lang -------------------------------------------------------------------------
    "lang_current": {"en": "This chat's language is {lang}. Change it with `lang en` or `lang zh`.",
                     "zh": "当前会话语言：{lang}。可用 `lang en` 或 `lang zh` 切换。"},
    "lang_set": {"en": "From now on I answer this chat in English.", "zh": "好的，此后在本会话中使用中文回复。"},
    "lang_auto": {"en": "This chat now follows the default language ({lang}); Chinese questions get Chinese answers.",
                  "zh": "本会话恢复默认语言（{lang}）；中文提问将以中文回复。"},
    "lang_unknown": {"en": "I don't know the language '{value}'. Choose one of: {choices}, or auto.",
                     "zh": "不支持语言「{value}」。可选：{choices}，或 auto。"},
    "whoami": {"en": "Chat {chat}, user {user}, {role}.", "zh": "会话 {chat}，用户 {user}，{role}。"},
    "rate_limited_user": {
        "en": "You have sent {limit} commands in the last minute, the most opsbot takes; try again in {seconds} s.",
        "zh": "您在一分钟内已发送 {limit} 条命令（上限）；请 {seconds} 秒后再试。",
    },
    "rate_limited_chat": {
        "en": "This chat has sent {limit} commands in the last minute, the most opsbot takes; try again in {seconds} s.",
        "zh": "本会话在一分钟内已发送 {limit} 条命令（上限）；请 {seconds} 秒后再试。",
    },
    "query_timeout": {
        "en": "That question ran longer than {seconds} s and was stopped. Ask for a shorter period or fewer "
              "breakdowns, e.g. `last 30d` instead of a whole year.",
        "zh": "该查询超过 {seconds} 秒已被终止。请缩短时间范围或减少拆分维度，例如用 `最近30天` 代替一整年。",
    },
    "warehouse_memory": {
        "en": "That question needs more memory than the warehouse may use ({limit}). Ask for a shorter period, "
              "or an admin can raise `[warehouse] memory_limit` in the config.",
        "zh": "该查询所需内存超过数据仓库的上限（{limit}）。请缩短时间范围，或请管理员调高配置中的 `[warehouse] memory_limit`。",
    },
    "warehouse_busy": {
        "en": "opsbot is answering {limit} heavy questions right now; try again in a minute.",
        "zh": "opsbot 正在处理 {limit} 个耗时查询，请稍后再试。",
    },
    "source_down_title": {"en": "Data source unavailable", "zh": "数据源不可用"},
    "source_down": {
        "en": "opsbot cannot reach the data warehouse since {since} ({reason}). Commands answer "
              "\"data source unavailable\" and scheduled digests wait; opsbot retries by itself and will say "
              "here when it is back.",
        "zh": "自 {since} 起 opsbot 无法连接数据仓库（{reason}）。命令将提示“数据源不可用”，定时简报会等待；"
              "opsbot 会自动重试，恢复后会在此通知。",
    },
    "source_back_title": {"en": "Data source is back", "zh": "数据源已恢复"},
    "source_back": {
        "en": "The data warehouse answers again (unreachable since {since}, about {minutes} min).",
        "zh": "数据仓库已恢复（自 {since} 起不可用，约 {minutes} 分钟）。",
    },
    "whoami_scope": {"en": "This chat sees only: {scope}.", "zh": "本会话只能查看：{scope}。"},
    "whoami_unscoped": {"en": "This chat sees the whole shop.", "zh": "本会话可查看全店数据。"},
    "role_admin": {"en": "admin", "zh": "管理员"},
    "role_member": {"en": "member", "zh": "成员"},
    "audit_title": {"en": "Audit log", "zh": "审计日志"},
    "audit_usage": {"en": "Use `audit` or `audit 50` (at most 200).", "zh": "请使用 `audit` 或 `audit 50`（最多200条）。"},
    "summary_whoami": {"en": "Your chat id, user id and role", "zh": "查看会话 ID、用户 ID 和角色"},
    "summary_audit": {"en": "Recent commands: who, where, what, outcome", "zh": "最近的命令：谁、在哪、做了什么、结果"},
    "summary_lang": {"en": "Set this chat's reply language", "zh": "设置本会话的回复语言"},
    # ---- analysis -------------------------------------------------------------------------
    "need_metric": {"en": "`{command}` needs a metric, e.g. `{command} gmv`.", "zh": "`{command}` 需要一个指标，例如 `{command} gmv`。"},
    "one_metric": {"en": "`{command}` takes one metric at a time.", "zh": "`{command}` 每次只能查询一个指标。"},
    "need_dimension": {"en": "`top` needs a dimension first, e.g. `top category by gmv`. Dimensions: {choices}.",
                       "zh": "`top` 需要先指定维度，例如 `top category by gmv`。可用维度：{choices}。"},
    "not_split": {"en": "{metric} can't be split or filtered by {dimension}: that data is recorded per channel only.",
                  "zh": "{metric} 无法按 {dimension} 拆分或筛选：该数据只按渠道记录。"},
    "not_split_list": {"en": "{metric} can't be split by {dimensions}.", "zh": "{metric} 无法按 {dimensions} 拆分。"},
    "too_many_points": {"en": "That is {days} daily points; use `weekly` or `monthly` for periods over two years.",
                        "zh": "共 {days} 个日数据点；超过两年请使用 `weekly` 或 `monthly`。"},
    "trend_title": {"en": "{metric} trend · {period}", "zh": "{metric}趋势 · {period}"},
    "trend_last": {"en": "Latest", "zh": "最新"},
    "trend_high": {"en": "High", "zh": "最高"},
    "trend_low": {"en": "Low", "zh": "最低"},
    "trend_partial": {"en": "Incomplete buckets (cut by the period or still running): {buckets}.",
                      "zh": "不完整的区间（被时间段截断或尚未结束）：{buckets}。"},
    "other": {"en": "other", "zh": "其他"},
    # the rows a table leaves out, summed into one so that the table adds up to its total
    "other_rows": {"en": "other ({count} more)", "zh": "其他（另 {count} 项）"},
    "later_weeks": {"en": "{count} later weeks", "zh": "之后 {count} 周"},
    "share": {"en": "Share", "zh": "占比"},
    "previous": {"en": "Before", "zh": "对比期"},
    "current": {"en": "Now", "zh": "本期"},
    "total": {"en": "Total", "zh": "合计"},
    "top_title": {"en": "Top {dimension} by {metric} · {period}", "zh": "{dimension}排行（按{metric}）· {period}"},
    "contribution": {"en": "Contribution", "zh": "贡献"},
    "of_change": {"en": "Of change", "zh": "占变化"},
    "movers_title": {"en": "What moved {metric} · {period}", "zh": "{metric}变动归因 · {period}"},
    "movers_summary": {"en": "{metric} {value} vs {previous} ({change}) compared with {period}.",
                       "zh": "{metric} {value}，对比期 {previous}（{change}），对比 {period}。"},
    "movers_lead": {"en": "Biggest mover: {dimension} = {value}, {share} of the change.",
                    "zh": "影响最大：{dimension} = {value}，占变化的 {share}。"},
    "movers_chart": {"en": "Contribution to the {metric} change by {dimension}", "zh": "各{dimension}对{metric}变化的贡献"},
    "drivers_title": {"en": "GMV drivers · {period}", "zh": "销售额驱动拆解 · {period}"},
    "driver_sessions": {"en": "Sessions", "zh": "访客数"},
    "driver_factor": {"en": "{now}, was {before}", "zh": "{now}，对比期 {before}"},
    "driver_conversion": {"en": "Conversion", "zh": "转化率"},
    "driver_aov": {"en": "AOV", "zh": "客单价"},
    "drivers_undefined": {
        "en": "GMV can't be split into sessions × conversion × AOV here: orders were recorded without sessions.",
        "zh": "无法拆解为 访客数 × 转化率 × 客单价：存在没有访客记录的订单。"},
    "drivers_gmv_only": {"en": "`drivers` splits GMV into sessions × conversion × AOV; for other metrics use `movers`.",
                         "zh": "`drivers` 将销售额拆解为 流量 × 转化率 × 客单价；其他指标请使用 `movers`。"},
    "drivers_no_filter": {"en": "`drivers` works on the whole shop or `by channel`; `where` is not supported.",
                          "zh": "`drivers` 只支持全店或 `by channel`，不支持 `where`。"},
    "funnel_title": {"en": "Funnel · {period}", "zh": "转化漏斗 · {period}"},
    "funnel_words": {"en": "`funnel` takes a period, `vs …` and `by channel`; I don't understand '{text}'.",
                     "zh": "`funnel` 只接受时间段、`vs …` 和 `by channel`；无法识别「{text}」。"},
    # "weakest" is defined in metrics/funnel.py (FunnelRow.weakest); the reply says the definition
    "funnel_weakest": {
        "en": "Weakest step: {before} → {step}, {rate} against {previous}: about {lost} orders fewer than at its "
              "earlier rate, the most of any step (weakest = the fall that cost the most orders, not the "
              "lowest rate).",
        "zh": "最薄弱环节：{before} → {step}，{rate}（对比期 {previous}）：按对比期的比率计约少了 {lost} 单，"
              "为各环节之最（最薄弱 = 下滑造成订单损失最多的环节，而非比率最低的环节）。",
    },
    "funnel_none_fell": {"en": "No step up to the order fell against {period}.",
                         "zh": "与 {period} 相比，下单及之前的环节都没有下滑。"},
    "step_sessions": {"en": "Sessions", "zh": "访客数"},
    "funnel_step": {"en": "{step} ({stage})", "zh": "{step}（{stage}）"},
    "step_product_views": {"en": "Product views", "zh": "商品浏览"},
    "step_add_to_cart": {"en": "Add to cart", "zh": "加购"},
    "step_orders": {"en": "Orders", "zh": "下单"},
    "step_repeat_buyers": {"en": "Repeat buyers", "zh": "复购客户"},
    "stage_awareness": {"en": "awareness", "zh": "认知"},
    "stage_interest": {"en": "interest", "zh": "兴趣"},
    "stage_purchase": {"en": "purchase", "zh": "购买"},
    "stage_repurchase": {"en": "repurchase", "zh": "复购"},
    "step": {"en": "Step", "zh": "环节"},
    "count": {"en": "Count", "zh": "数量"},
    "step_rate": {"en": "Step rate", "zh": "环节转化"},
    "weakest": {"en": "Weakest", "zh": "最薄弱"},
    "summary_trend": {"en": "A metric over time, with a chart", "zh": "指标趋势图"},
    "summary_top": {"en": "Rank a dimension's values by a metric", "zh": "按指标给维度排行"},
    "summary_movers": {"en": "Which slices moved a metric, summing to the change", "zh": "哪些维度值导致了指标变化"},
    "summary_drivers": {"en": "GMV change split into sessions, conversion and AOV", "zh": "销售额变化拆解为访客数、转化率、客单价"},
    "summary_funnel": {"en": "Sessions → views → cart → orders → repeat buyers", "zh": "访客 → 浏览 → 加购 → 下单 → 复购"},
    # ---- slack adapter ----------------------------------------------------------------
    "slack_working": {"en": "Working on `{command}`…", "zh": "正在处理 `{command}`…"},
    "slack_chart_missing": {
        "en": "The chart “{title}” could not be attached: {reason}",
        "zh": "图表「{title}」未能附上：{reason}",
    },
    "slack_chart_not_in_channel": {
        "en": "opsbot is not a member of this channel. Invite it (`/invite @opsbot`) and ask again.",
        "zh": "opsbot 不在此频道中。请先邀请它（`/invite @opsbot`）再试。",
    },
    "slack_chart_missing_scope": {
        "en": "the Slack app lacks the files:write permission. Ask a workspace admin to reinstall it "
        "from the manifest.",
        "zh": "Slack 应用缺少 files:write 权限。请工作区管理员按清单重新安装应用。",
    },
    "slack_chart_failed": {
        "en": "Slack refused the upload ({error}). The numbers above are complete.",
        "zh": "Slack 拒绝了上传（{error}）。以上数据完整无误。",
    },
    # ---- digest -------------------------------------------------------------------------
    "digest_title": {"en": "Morning digest · {period}", "zh": "每日早报 · {period}"},
    "digest_campaigns": {"en": "Campaigns on the calendar over these days: {campaigns}.",
                         "zh": "这段时间内的活动：{campaigns}。"},
    "digest_weekly_title": {"en": "Weekly digest · {period}", "zh": "每周周报 · {period}"},
    "digest_missing": {
        "en": "⚠ No orders have arrived for {day} yet (the quietest day in the last 8 weeks had {low}). "
              "The data is probably late, not a collapse; the numbers below are not final.",
        "zh": "⚠ {day} 的订单数据尚未到达（近8周最少的一天有 {low} 单）。很可能是数据延迟而非业务下滑，以下数字并非最终结果。"},
    "digest_incomplete": {
        "en": "⚠ {day} looks incomplete: {orders} orders, while the quietest day in the last 8 weeks had {low}. "
              "The data is probably still loading; the numbers below are not final.",
        "zh": "⚠ {day} 的数据可能不完整：仅 {orders} 单，而近8周最少的一天有 {low} 单。数据可能仍在加载，以下数字并非最终结果。"},
    "digest_mtd": {"en": "Month to date: GMV {value}, against {previous} in the same days of last month ({change}).",
                   "zh": "本月至今销售额 {value}，上月同期 {previous}（{change}）。"},
    "digest_movers": {"en": "What moved {metric} vs {period}", "zh": "{metric}变动来源（对比 {period}）"},
    "digest_updated": {"en": "Updated: late data changed these numbers ({time}).",
                       "zh": "已更新：迟到的数据改变了这些数字（{time}）。"},
    "digest_usage": {"en": "Use `digest now` or `digest now weekly`.", "zh": "请使用 `digest now` 或 `digest now weekly`。"},
    "dimension": {"en": "Dimension", "zh": "维度"},
    "value": {"en": "Value", "zh": "取值"},
    "subscribe_usage": {"en": "Subscribe to what? e.g. `subscribe digest daily 09:00`.",
                        "zh": "订阅什么？例如 `subscribe digest daily 09:00`。"},
    "subscribe_weekday": {"en": "A weekly digest needs a weekday: {choices}, e.g. `subscribe digest weekly mon 09:00`.",
                          "zh": "周报需要指定星期：{choices}，例如 `subscribe digest weekly mon 09:00`。"},
    "subscribe_time": {"en": "'{text}' is not a time; write it as HH:MM, e.g. 09:00.",
                       "zh": "「{text}」不是有效时间，请写成 HH:MM，例如 09:00。"},
    "subscribe_night": {
        "en": "{at} is between midnight and 03:00, where daylight-saving changes can skip or repeat a run. "
              "Pick 03:00 or later.",
        "zh": "{at} 位于 0 点到 3 点之间，夏令时切换可能导致跳过或重复发送。请选择 03:00 之后的时间。"},
    "subscribe_wait": {"en": "`wait-until` needs a time, e.g. `wait-until 11:00` (got '{text}').",
                       "zh": "`wait-until` 需要一个时间，例如 `wait-until 11:00`（收到「{text}」）。"},
    "subscribe_wait_order": {"en": "wait-until {wait} must be after the digest time {at}.",
                             "zh": "wait-until {wait} 必须晚于发送时间 {at}。"},
    "subscribed": {"en": "Subscribed: {what}.", "zh": "已订阅：{what}。"},
    "subscription_exists": {"en": "This chat already has that digest: {what}. Nothing added.",
                            "zh": "本会话已有这份日报：{what}。未重复添加。"},
    "subscription_exists_paused": {"en": "It is paused: `resume {id}` turns it back on.",
                                   "zh": "它已暂停：`resume {id}` 可重新开启。"},
    "subscription_similar": {"en": "This chat also gets the same digest from #{id} at {at}: "
                                   "`unsubscribe {id}` if one a day is enough.",
                             "zh": "本会话在 {at} 还会收到同样的日报（#{id}）：如只需一份，可 `unsubscribe {id}`。"},
    "unsubscribed": {"en": "Unsubscribed: {what}.", "zh": "已取消订阅：{what}。"},
    "paused_now": {"en": "Paused: {what}.", "zh": "已暂停：{what}。"},
    "resumed_now": {"en": "Resumed: {what}.", "zh": "已恢复：{what}。"},
    "paused": {"en": "paused", "zh": "已暂停"},
    # a subscription as `subscriptions` lists it: the schedule and split in the reply's words
    "sub_daily": {"en": "daily {at}", "zh": "每天 {at}"},
    "sub_weekly": {"en": "weekly {weekday} {at}", "zh": "每{weekday} {at}"},
    "sub_by": {"en": "by {dimension}", "zh": "按{dimension}"},
    "sub_wait": {"en": "wait-until {at}", "zh": "等到 {at}"},
    "weekday_mon": {"en": "mon", "zh": "周一"},
    "weekday_tue": {"en": "tue", "zh": "周二"},
    "weekday_wed": {"en": "wed", "zh": "周三"},
    "weekday_thu": {"en": "thu", "zh": "周四"},
    "weekday_fri": {"en": "fri", "zh": "周五"},
    "weekday_sat": {"en": "sat", "zh": "周六"},
    "weekday_sun": {"en": "sun", "zh": "周日"},
    "need_subscription_id": {"en": "Give the subscription's number, e.g. `unsubscribe 3` (see `subscriptions`).",
                             "zh": "请给出订阅编号，例如 `unsubscribe 3`（见 `subscriptions`）。"},
    "no_subscription": {"en": "This chat has no subscription #{id}; `subscriptions` lists them.",
                        "zh": "本会话没有编号为 {id} 的订阅；可用 `subscriptions` 查看。"},
    "no_subscriptions": {"en": "This chat has no subscriptions. Try `subscribe digest daily 09:00`.",
                         "zh": "本会话暂无订阅。试试 `subscribe digest daily 09:00`。"},
    "subscriptions_title": {"en": "Subscriptions", "zh": "订阅列表"},
    "no_deliveries": {"en": "Nothing has been delivered to this chat yet.", "zh": "尚无投递记录。"},
    "deliveries_title": {"en": "Recent deliveries", "zh": "最近投递"},
    "key": {"en": "Key", "zh": "键"}, "chat": {"en": "Chat", "zh": "会话"}, "status": {"en": "Status", "zh": "状态"},
    "attempts": {"en": "Tries", "zh": "次数"}, "time": {"en": "Time", "zh": "时间"}, "error": {"en": "Error", "zh": "错误"},
    "status_pending": {"en": "pending", "zh": "待发送"}, "status_sending": {"en": "sending", "zh": "发送中"},
    "status_sent": {"en": "sent", "zh": "已发送"}, "status_failed": {"en": "failed", "zh": "失败"},
    "summary_digest": {"en": "The morning digest, now", "zh": "立即查看每日早报"},
    "summary_subscribe": {"en": "Subscribe this chat to a scheduled digest", "zh": "为本会话订阅定时报告"},
    "summary_subscriptions": {"en": "This chat's subscriptions", "zh": "本会话的订阅"},
    "summary_unsubscribe": {"en": "Remove a subscription", "zh": "取消订阅"},
    "summary_pause": {"en": "Pause a subscription", "zh": "暂停订阅"},
    "summary_resume": {"en": "Resume a subscription", "zh": "恢复订阅"},
    "summary_deliveries": {"en": "What was pushed to this chat, and what failed", "zh": "推送记录及失败原因"},
    # ---- alerts ------------------------------------------------------------------------
    "alerts_title": {"en": "{count} anomaly alert(s) · {day}", "zh": "{count} 条异常告警 · {day}"},
    "alerts_recovered_title": {"en": "Back in range · {day}", "zh": "已恢复正常 · {day}"},
    "alert_line": {"en": "{metric} {actual}, expected {expected} ({change}).",
                   "zh": "{metric} {actual}，预期 {expected}（{change}）。"},
    "alert_rule_line": {"en": "{metric} {actual} broke the rule {op} {threshold}.",
                        "zh": "{metric} {actual}，触发规则 {op} {threshold}。"},
    "alert_segment_shift": {
        "en": "{customers} Champions turned At risk or Dormant last month ({rate} of them, "
              "usually {usual}). Time for a win-back offer.",
        "zh": "上月有 {customers} 位高价值客户转为流失风险或沉睡（占 {rate}，通常为 {usual}）。建议启动召回活动。"},
    "alert_so_far": {"en": "today until {until}", "zh": "今日截至 {until}"},
    "alert_causes": {"en": "{share} of the gap is {slices}.", "zh": "{share} 的差距来自 {slices}。"},
    "alert_recovered": {"en": "✅ #{id} {series} is back in range.", "zh": "✅ #{id} {series} 已恢复正常。"},
    "btn_ack": {"en": "Ack #{id}", "zh": "确认 #{id}"},
    "btn_assign": {"en": "Assign to me", "zh": "我来处理"},
    "btn_snooze_4h": {"en": "Snooze 4h", "zh": "4小时后提醒"},
    "btn_snooze_1d": {"en": "Snooze 1d", "zh": "明天提醒"},
    "btn_expected": {"en": "Expected", "zh": "预期内"},
    "need_alert_id": {"en": "Give the alert's number, e.g. `ack 12` (see `alerts open`).",
                      "zh": "请给出告警编号，例如 `ack 12`（见 `alerts open`）。"},
    "no_alert": {"en": "This chat has no alert #{id}; `alerts open` lists them.",
                 "zh": "本会话没有编号为 {id} 的告警；可用 `alerts open` 查看。"},
    "acked": {"en": "Alert #{id} acknowledged by {user}.", "zh": "告警 #{id} 已由 {user} 确认。"},
    "assigned": {"en": "Alert #{id} is assigned to {user}.", "zh": "告警 #{id} 已分配给 {user}。"},
    "snoozed": {"en": "Alert #{id} snoozed for {duration}.", "zh": "告警 #{id} 已暂停提醒 {duration}。"},
    "snooze_usage": {"en": "Snooze for how long? e.g. `snooze 12 4h` (30m, 4h, 1d; at most 30 days).",
                     "zh": "暂停多久？例如 `snooze 12 4h`（30m、4h、1d；最多30天）。"},
    "marked_expected": {"en": "Alert #{id} marked expected ({note}); {day} is left out of future baselines.",
                        "zh": "告警 #{id} 已标记为预期内（{note}）；{day} 将不计入之后的基线。"},
    "rule_usage": {"en": "Use `alert add <metric> > <threshold> [daily] [by <dimension>]` or `alert rm <id>`, "
                         "e.g. `alert add refund_rate > 5% daily`.",
                   "zh": "用法：`alert add <指标> > <阈值> [daily] [by <维度>]` 或 `alert rm <编号>`，"
                         "例如 `alert add refund_rate > 5% daily`。"},
    "rule_op": {"en": "'{op}' is not a comparison; use > or <.", "zh": "「{op}」不是比较符，请使用 > 或 <。"},
    "rule_threshold": {"en": "'{text}' is not a threshold; write a non-negative number such as 100 or 5%.",
                       "zh": "「{text}」不是有效阈值，请写非负数，例如 100 或 5%。"},
    "rule_percent": {"en": "{metric} is not a rate; give its threshold without %.",
                     "zh": "{metric} 不是比率，阈值请不要带 %。"},
    "rule_split": {"en": "{metric} can't be split by {dimension}.", "zh": "{metric} 无法按 {dimension} 拆分。"},
    "rule_added": {"en": "Rule added: {rule}.", "zh": "已添加规则：{rule}。"},
    "rule_exists": {"en": "This chat already has that rule: {rule}. Nothing added.",
                    "zh": "本会话已有这条规则：{rule}。未重复添加。"},
    "rule_removed": {"en": "Rule removed: {rule}.", "zh": "已删除规则：{rule}。"},
    "no_rule": {"en": "This chat has no rule #{id}.", "zh": "本会话没有编号为 {id} 的规则。"},
    "alerts_usage": {"en": "Use `alerts` or `alerts open`.", "zh": "请使用 `alerts` 或 `alerts open`。"},
    "alerts_open_title": {"en": "Open alerts", "zh": "未关闭的告警"},
    "no_open_alerts": {"en": "No open alerts.", "zh": "没有未关闭的告警。"},
    "rules_title": {"en": "Rules:", "zh": "规则："},
    "no_rules": {"en": "Rules: none.", "zh": "规则：无。"},
    "acked_by": {"en": "acked by {user}", "zh": "{user} 已确认"},
    "assigned_to": {"en": "assigned to {user}", "zh": "由 {user} 处理"},
    "scan_usage": {"en": "Use `scan` or `scan 2026-11-20`.", "zh": "请使用 `scan` 或 `scan 2026-11-20`。"},
    "scan_nothing": {"en": "Scan of {day}: nothing new to report ({count} anomalies in all).",
                     "zh": "{day} 检测完成：没有新的告警（共 {count} 个异常）。"},
    "summary_ack": {"en": "Acknowledge an alert", "zh": "确认告警"},
    "summary_assign": {"en": "Take an alert", "zh": "认领告警"},
    "summary_snooze": {"en": "Snooze an alert", "zh": "暂停告警提醒"},
    "summary_expected": {"en": "Mark an alert expected (promo, known outage)", "zh": "标记告警为预期内（促销、已知故障）"},
    "summary_alert": {"en": "Add or remove a threshold rule", "zh": "添加或删除阈值规则"},
    "summary_alerts": {"en": "Open alerts and this chat's rules", "zh": "未关闭的告警和本会话的规则"},
    "summary_scan": {"en": "Run the anomaly scan now", "zh": "立即运行异常检测"},
    "digest_open_alerts": {"en": "Open alerts: {alerts}", "zh": "未关闭的告警：{alerts}"},
    # ---- cohorts -----------------------------------------------------------------------
    "summary_retention": {
        "en": "Cohort retention: the share of each month's (or week's) new customers who order again later",
        "zh": "同期群留存：每月（周）新客在之后各月（周）再次下单的比例",
    },
    "summary_ltv": {
        "en": "Lifetime value by monthly cohort: cumulative GMV per customer, CAC and LTV/CAC",
        "zh": "按月同期群的客户生命周期价值：人均累计销售额、获客成本与 LTV/CAC",
    },
    "retention_title_month": {"en": "Retention by monthly cohort · {period}", "zh": "月度同期群留存率 · {period}"},
    "retention_title_week": {"en": "Retention by weekly cohort · {period}", "zh": "周度同期群留存率 · {period}"},
    "retention_explain_month": {
        "en": "A cohort is the customers whose first non-cancelled order was in that month. M1 is the share "
        "of them who ordered in the following month, M2 the month after, and so on (M0 = 100%).",
        "zh": "同期群：首个未取消订单在该月的客户。M1 为其中在下一个月下单的比例，M2 为再下一个月，"
        "依此类推（M0 = 100%）。",
    },
    "retention_explain_week": {
        "en": "A cohort is the customers whose first non-cancelled order was in that ISO week (Monday to "
        "Sunday). W1 is the share of them who ordered in the following week, W2 the week after, and so on "
        "(W0 = 100%).",
        "zh": "同期群：首个未取消订单在该 ISO 周（周一至周日）的客户。W1 为其中在下一周下单的比例，"
        "W2 为再下一周，依此类推（W0 = 100%）。",
    },
    "cohort_in_progress": {
        "en": "{current} is still in progress and is left out: it counts neither as a cohort nor as an age.",
        "zh": "{current} 尚未结束，不计入：既不作为同期群，也不计入任何月龄（周龄）。",
    },
    "cohort_none": {"en": "No customer placed a first order in {period}.", "zh": "{period} 内没有新客首单。"},
    "column_cohort": {"en": "Cohort", "zh": "同期群"},
    "column_customers": {"en": "Customers", "zh": "客户数"},
    "column_age_month": {"en": "M{k}", "zh": "M{k}"},
    "column_age_week": {"en": "W{k}", "zh": "W{k}"},
    "column_cac": {"en": "CAC", "zh": "获客成本"},
    "column_ltv_cac": {"en": "LTV/CAC M{k}", "zh": "LTV/CAC（M{k}）"},
    "retention_chart_month": {"en": "Retention by monthly cohort", "zh": "月度同期群留存率"},
    "retention_chart_week": {"en": "Retention by weekly cohort", "zh": "周度同期群留存率"},
    "retention_x_month": {"en": "Months since first order", "zh": "距首单月数"},
    "retention_x_week": {"en": "Weeks since first order", "zh": "距首单周数"},
    "field_cohort_customers": {"en": "New customers in these cohorts", "zh": "同期群新客数"},
    "field_retention_month": {"en": "Month-{k} retention", "zh": "第 {k} 月留存率"},
    "field_retention_week": {"en": "Week-{k} retention", "zh": "第 {k} 周留存率"},
    "retention_footer": {
        "en": "Cohort = month (week) of the first non-cancelled order, business time {zone}. Retention over "
        "several cohorts weighs each by its customers.",
        "zh": "同期群按首个未取消订单所在的月（周）划分，业务时区 {zone}。多个同期群的留存率按客户数加权。",
    },
    "ltv_title": {"en": "LTV by monthly cohort · {period}", "zh": "月度同期群 LTV · {period}"},
    "ltv_explain_one": {
        "en": "M0 is the GMV per customer in the cohort's first month. CAC = marketing spend in the cohort month / "
        "its new customers. LTV/CAC compares every cohort at the same age, M0.",
        "zh": "M0 为同期群首月的人均销售额。获客成本 = 同期群当月推广费用 / 当月新客数。LTV/CAC 在相同月龄 M0 上比较各同期群。",
    },
    "ltv_explain": {
        "en": "M0 is the GMV per customer in the cohort's first month, M1 the total through the following "
        "month, and so on, up to {months} months. CAC = marketing spend in the cohort month / its new "
        "customers. LTV/CAC compares every cohort at the same ages: M0, which each has, and M{age} (n/a for a "
        "cohort that has not reached M{age} yet), so that an older cohort's longer history does not read as better value.",
        "zh": "M0 为同期群首月的人均销售额，M1 为截至下一个月的人均累计销售额，依此类推，最多 {months} 个月。"
        "获客成本 = 同期群当月推广费用 / 当月新客数。LTV/CAC 在相同月龄上比较各同期群：人人都有的 M0，以及 M{age}"
        "（尚未到达 M{age} 的同期群为无），以免较早同期群因历史更长而显得价值更高。",
    },
    "ltv_footer": {
        "en": "LTV counts GMV of non-cancelled orders; refunds are NOT subtracted (the net-of-refunds LTV is "
        "in the data as ltv_net). Business time {zone}.",
        "zh": "LTV 按未取消订单的销售额计算，未扣除退款（扣除退款后的 LTV 见数据字段 ltv_net）。业务时区 {zone}。",
    },
    "field_cac_all": {"en": "CAC (all cohorts)", "zh": "获客成本（全部同期群）"},
    "field_ltv_avg": {"en": "Avg LTV M{k}", "zh": "平均 LTV（M{k}）"},
    "ltv_chart_title": {"en": "Cumulative LTV per customer by cohort", "zh": "各同期群人均累计 LTV"},
    # ---- errors
    "cohort_bad_grain": {
        "en": "Cohorts are by month or by week, not '{text}'. Try `retention by month` or `retention by week`.",
        "zh": "同期群只能按月或按周划分，不支持「{text}」。可以试试 `retention by month` 或 `retention by week`。",
    },
    "cohort_no_complete": {
        "en": "'{period}' has no complete month or week yet ({current} is still in progress). Try `last month`, "
        "or no period for the last 12.",
        "zh": "「{period}」内还没有完整的月或周（{current} 尚未结束）。可以试试 `上月`，或不指定时间段查看最近 12 个。",
    },
    "cohort_too_many": {
        "en": "That period holds {count} cohorts; at most {limit} fit in one table. Pick a shorter period.",
        "zh": "该时间段包含 {count} 个同期群，一张表最多显示 {limit} 个，请缩短时间段。",
    },
    "cohort_no_compare": {
        "en": "Cohort tables can't be compared with `vs`; ask for each period on its own.",
        "zh": "同期群表不支持 `vs` 对比，请分别查询各个时间段。",
    },
    "cohort_unexpected": {"en": "I can't read '{text}' here.", "zh": "无法识别「{text}」。"},
    "ltv_bad_months": {
        "en": "'{text}' is not a number of months. `ltv` takes how many months to follow each cohort, "
        "1 to {limit}, e.g. `ltv 6`.",
        "zh": "「{text}」不是月数。`ltv` 后面跟每个同期群要追踪的月数（1 到 {limit}），例如 `ltv 6`。",
    },
    "ltv_months_range": {
        "en": "LTV follows cohorts for 1 to {limit} months, not {months}.",
        "zh": "LTV 可追踪 1 到 {limit} 个月，不支持 {months}。",
    },
    "ltv_monthly_only": {
        "en": "LTV cohorts are monthly; `by {text}` is not available.",
        "zh": "LTV 只支持按月同期群，不支持按「{text}」。",
    },
    # ---- help ---------------------------------------------------------------------------
    "help_title": {"en": "opsbot commands", "zh": "opsbot 命令"},
    "help_intro": {
        "en": "Type a command word and its arguments. `help <command>` shows usage and examples.",
        "zh": "输入命令及参数。`help <命令>` 查看用法和示例。",
    },
    "help_command_title": {"en": "help {command}", "zh": "帮助：{command}"},
    "help_examples": {"en": "Examples:", "zh": "示例："},
    "help_aliases": {"en": "Also: {aliases}", "zh": "别名：{aliases}"},
    "help_admin": {"en": "Admins only.", "zh": "仅限管理员。"},
    "help_periods": {
        "en": "Periods: today, yesterday, last 7d/4w/3m, this/last week|month|quarter|year, wtd/mtd/qtd/ytd, "
        "2026-11, 2026Q4, 2026-W47, 2026-11-01..2026-11-07; compare with `vs previous` or `vs last year`.",
        "zh": "时间段：今天、昨天、近7天、本周/上周、本月/上月、本季度、今年、2026-11、2026Q4、2026-W47、"
        "2026-11-01..2026-11-07；用 `vs previous`（环比）或 `vs last year`（同比）对比。",
    },
    "help_metrics": {"en": "Metrics: {metrics}", "zh": "指标：{metrics}"},
    "help_name_zh": {"en": "{name}", "zh": "{name}（{zh}）"},  # a metric or dimension, with its Chinese name
    "help_dimensions": {"en": "Dimensions: {dimensions}", "zh": "维度：{dimensions}"},
    "summary_help": {"en": "List commands, or show how to use one", "zh": "列出命令，或查看某个命令的用法"},
    "summary_kpi": {
        "en": "KPIs for a period, compared, split by a dimension, filtered",
        "zh": "查询指标：时间段、对比、按维度拆分、筛选",
    },
}

METRIC_LABELS: dict[str, dict[str, str]] = {
    "gmv": {"en": "GMV", "zh": "销售额"},
    "orders": {"en": "Orders", "zh": "订单量"},
    "aov": {"en": "AOV", "zh": "客单价"},
    "buyers": {"en": "Buyers", "zh": "下单客户数"},
    "new_customers": {"en": "New customers", "zh": "新客数"},
    "sessions": {"en": "Sessions", "zh": "访客数"},
    "conversion": {"en": "Conversion", "zh": "转化率"},
    "spend": {"en": "Spend", "zh": "推广费用"},
    "cac": {"en": "CAC", "zh": "获客成本"},
    "roas": {"en": "ROAS", "zh": "投入产出比"},
    "refund_rate": {"en": "Refund rate", "zh": "退款率"},
    "repurchase_rate": {"en": "Repurchase rate", "zh": "复购率"},
    "units": {"en": "Units", "zh": "销量"},
    "items_per_order": {"en": "Items per order", "zh": "连带率"},
    "asp": {"en": "ASP", "zh": "件均价"},
    "gross_margin": {"en": "Gross margin", "zh": "毛利"},
    "margin_rate": {"en": "Margin rate", "zh": "毛利率"},
    "sell_through": {"en": "Sell-through", "zh": "售出率"},
    "return_rate": {"en": "Return rate", "zh": "退货率"},
}

DIMENSION_LABELS: dict[str, dict[str, str]] = {
    "channel": {"en": "channel", "zh": "渠道"},
    "category": {"en": "category", "zh": "品类"},
    "region": {"en": "region", "zh": "地区"},
    "sku": {"en": "SKU", "zh": "商品"},
}


def t(lang: str, key: str, /, **params: Any) -> str:
    """The message `key` in `lang` (English when a translation is missing)."""
    entry = MESSAGES[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**params) if params else template


def metric_label(name: str, lang: str) -> str:
    return METRIC_LABELS.get(name, {}).get(lang, name)


def dimension_label(name: str, lang: str) -> str:
    return DIMENSION_LABELS.get(name, {}).get(lang, name)


# Planning's strings live in their own module (goals, plans, budgets, segments, campaigns).
from bot.text.planning import PLANNING_MESSAGES  # noqa: E402

MESSAGES.update(PLANNING_MESSAGES)

# What the data does not cover (metrics/coverage.py): periods outside it, missing tables.
from bot.text.coverage import COVERAGE_MESSAGES  # noqa: E402

MESSAGES.update(COVERAGE_MESSAGES)

from bot.text.products import PRODUCT_MESSAGES  # noqa: E402

MESSAGES.update(PRODUCT_MESSAGES)

# The digest's stock-and-fulfilment section and the campaign report's units and sold-out SKUs.
from bot.text.digest_products import DIGEST_PRODUCT_MESSAGES  # noqa: E402

MESSAGES.update(DIGEST_PRODUCT_MESSAGES)

# The product alerts (stock, fulfilment, returns: metrics/products/alerts.py).
from bot.text.product_alerts import PRODUCT_ALERT_MESSAGES  # noqa: E402

MESSAGES.update(PRODUCT_ALERT_MESSAGES)
