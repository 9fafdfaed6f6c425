"""User-visible strings of the planning commands (handlers/planning/), in English and Chinese.

Merged into bot.text.messages.MESSAGES (`MESSAGES.update(PLANNING_MESSAGES)`); no key here exists there.
"""

from __future__ import annotations

PLANNING_MESSAGES: dict[str, dict[str, str]] = {
    # ---- help summaries -------------------------------------------------------------------
    "summary_goal": {"en": "Set, list and remove SMART goals (admin to set)", "zh": "设置、查看、删除目标（设置需管理员）"},
    "summary_plan": {"en": "A goal split into months, weeks and days by the shop's seasonality",
                     "zh": "按店铺季节性把目标拆解到月、周、日"},
    "summary_pace": {"en": "Actual vs plan to date, projected landing and verdict",
                     "zh": "目标进度：实际对比计划、预计完成与判断"},
    "summary_budget": {"en": "Split a marketing budget across channels by their return",
                       "zh": "按渠道回报分配推广预算"},
    "summary_segments": {"en": "Customer segments (RFM) with movement, actions and CSV export",
                         "zh": "客户分层（RFM）：变化、运营动作与 CSV 导出"},
    "summary_campaign": {"en": "Add a promotion to the calendar, or report its real lift",
                         "zh": "添加活动到日历，或复盘活动的真实增量"},
    "summary_campaigns": {"en": "The campaign calendar", "zh": "活动日历"},
    # ---- shared words -----------------------------------------------------------------------
    "pl_channel": {"en": "Channel", "zh": "渠道"},
    "pl_customers": {"en": "Customers", "zh": "客户数"},
    "pl_days": {"en": "Days", "zh": "天数"},
    "pl_metric": {"en": "Metric", "zh": "指标"},
    "pl_month": {"en": "Month", "zh": "月份"},
    "pl_period": {"en": "Period", "zh": "时间"},
    "pl_segment": {"en": "Segment", "zh": "分群"},
    "pl_target": {"en": "Target", "zh": "目标"},
    "pl_week": {"en": "Week", "zh": "周"},
    "pl_gmv_share": {"en": "GMV share", "zh": "销售额占比"},
    "verdict_on_track": {"en": "on track", "zh": "进度正常"},
    "verdict_at_risk": {"en": "at risk", "zh": "有风险"},
    "verdict_off_track": {"en": "off track", "zh": "明显落后"},
    "verdict_not_started": {"en": "not started", "zh": "尚未开始"},
    "verdict_achieved": {"en": "achieved", "zh": "已达成"},
    "verdict_missed": {"en": "missed", "zh": "未达成"},
    "verdict_unknown": {"en": "no data yet", "zh": "暂无数据"},
    # ---- goal ---------------------------------------------------------------------------------
    "goal_usage": {
        "en": "Use `goal set <metric> <target> <period>`, `goal list` or `goal rm <id>`.{suggestion}",
        "zh": "用法：`goal set <指标> <目标值> <时间段>`、`goal list` 或 `goal rm <编号>`。{suggestion}",
    },
    "goal_title": {"en": "Goal set", "zh": "目标已设置"},
    "goal_list_title": {"en": "Goals", "zh": "目标列表"},
    "goal_none": {"en": "No goals yet. Set one with `goal set gmv 3000000 2027Q1`.",
                  "zh": "还没有目标。可用 `goal set gmv 3000000 2027Q1` 设置。"},
    "goal_line": {"en": "#{id} {metric} {target} · {period}", "zh": "#{id} {metric} {target} · {period}"},
    "goal_saved": {"en": "Goal #{id}: {metric} {target} for {period}.", "zh": "目标 #{id}：{period} {metric} {target}。"},
    "goal_smart": {
        "en": "Specific and measurable (one metric, one number), time-bound ({days} days).",
        "zh": "目标明确、可衡量（一个指标、一个数值），有明确期限（{days} 天）。",
    },
    "goal_vs_last_year": {"en": "Same period last year: {value} (target {change}).",
                          "zh": "去年同期：{value}（目标相比 {change}）。"},
    "goal_vs_run_rate": {"en": "Projection at the last {days} days' rate (seasonally adjusted) for {period}: {value} "
                         "({level} range {low}–{high}); the target is {change} against it.",
                         "zh": "按近 {days} 天的速度（已做季节性调整）推算 {period}：{value}（{level} 区间 {low}–{high}）；"
                         "目标相比 {change}。"},
    "goal_vs_run_rate_plain": {"en": "At the recent run-rate (last 28 days, seasonally adjusted): {value} (target {change}).",
                               "zh": "按近 28 天的速度（已做季节性调整）：{value}（目标相比 {change}）。"},
    "goal_not_a_stretch": {
        "en": "⚠ Not a stretch: the target is {ratio} the projection, below its range — the shop is on course to "
        "beat it without changing anything. It is saved; consider raising it.",
        "zh": "⚠ 缺乏挑战：目标只有推算值的 {ratio}，低于推算区间——保持现状即可超额完成。目标已保存，建议调高。",
    },
    "goal_within_reach": {"en": "The target is inside the projected range: reachable at the current rate, little stretch.",
                          "zh": "目标落在推算区间内：按当前速度即可达成，挑战性不大。"},
    "goal_needs_more": {"en": "It needs {per_day} per day on average, {ratio} the last {days} days' rate (seasonally adjusted).",
                        "zh": "平均每天需完成 {per_day}，为近 {days} 天速度（已做季节性调整）的 {ratio}。"},
    "goal_vs_recent_level": {"en": "Last 28 days: {value} (target {change}).", "zh": "近 28 天：{value}（目标相比 {change}）。"},
    "goal_warning": {
        "en": "⚠ This target needs more than {limit}% above both last year and the recent run-rate — far beyond "
        "anything in the data. It is saved; check it is achievable.",
        "zh": "⚠ 该目标比去年同期和近期速度都高出 {limit}% 以上，远超历史数据。目标已保存，请确认其可实现。",
    },
    "goal_next": {"en": "See the split with `plan {metric} {period}` and the progress with `pace {metric}`.",
                  "zh": "用 `plan {metric} {period}` 查看拆解，用 `pace {metric}` 查看进度。"},
    "goal_level_note": {"en": "A ratio goal is a level to reach; `pace` compares the level to date with it.",
                        "zh": "比率类目标是要达到的水平；`pace` 会用截至目前的水平与其对比。"},
    "goal_removed": {"en": "Removed {what}.", "zh": "已删除 {what}。"},
    "goal_need_metric": {"en": "Which metric? e.g. `goal set gmv 3000000 2027Q1`. Metrics: {choices}.",
                         "zh": "请指定指标，例如 `goal set gmv 3000000 2027Q1`。可用指标：{choices}。"},
    "goal_need_target": {"en": "The goal needs a target number, e.g. `goal set gmv 3000000 2027Q1`.",
                         "zh": "目标需要一个数值，例如 `goal set gmv 3000000 2027Q1`。"},
    "goal_need_period": {"en": "The goal needs a bounded period, e.g. 2027Q1, next month, 2027-01.",
                         "zh": "目标需要一个明确的时间段，例如 2027Q1、下月、2027-01。"},
    "goal_target_positive": {"en": "The target must be a positive number (got '{target}').",
                             "zh": "目标值必须是正数（收到「{target}」）。"},
    "goal_period_past": {"en": "{period} is already over: a goal (or budget) is for a period that has not ended.",
                         "zh": "{period} 已经结束：目标（或预算）只能针对尚未结束的时间段。"},
    "goal_percent_range": {"en": "A rate goal is a percentage between 0 and 100%, e.g. 3.2% (got {target}).",
                           "zh": "比率目标应为 0 到 100% 之间的百分比，例如 3.2%（收到 {target}）。"},
    "goal_metric_unsupported": {"en": "{metric} cannot be a goal (distinct buyers do not add up over days). "
                                "Try new_customers or orders.",
                                "zh": "{metric} 不能设为目标（不同天的下单客户无法相加）。可以改用 new_customers 或 orders。"},
    "goal_extra_word": {"en": "I don't know what '{word}' means here.", "zh": "无法理解这里的「{word}」。"},
    "goal_need_id": {"en": "Give the goal's number, e.g. `goal rm 2` (see `goal list`).",
                     "zh": "请给出目标编号，例如 `goal rm 2`（见 `goal list`）。"},
    "goal_not_found": {"en": "There is no goal #{id}. See `goal list`.", "zh": "没有编号为 #{id} 的目标。见 `goal list`。"},
    # ---- plan ---------------------------------------------------------------------------------
    "plan_usage": {"en": "Use `plan <metric> [<target>] [<period>]`, e.g. `plan gmv 2027Q1`.",
                   "zh": "用法：`plan <指标> [目标值] [时间段]`，例如 `plan gmv 2027Q1`。"},
    "plan_title": {"en": "Plan: {metric}, {period}", "zh": "目标拆解：{metric}，{period}"},
    "plan_intro": {
        "en": "{total} over {days} days, weighted by the shop's weekday and month profile and its promotion days; "
        "months, weeks and days add up to the goal exactly.",
        "zh": "{days} 天共 {total}，按店铺的星期、月份规律和大促日加权拆分；月、周、日之和与目标完全一致。",
    },
    "plan_preview": {"en": "A what-if: not saved. Save it with `goal set`.", "zh": "仅为预览，未保存。用 `goal set` 保存。"},
    "plan_by_month": {"en": "By month", "zh": "按月"},
    "plan_by_week": {"en": "By week", "zh": "按周"},
    "plan_chart_title": {"en": "{metric}: daily targets", "zh": "{metric}：每日目标"},
    "plan_daily_target": {"en": "Daily target", "zh": "每日目标"},
    "plan_no_goal": {"en": "No {metric} goal for that period. Set one with `goal set {metric} <target> {period}`, "
                     "or preview with `plan {metric} <target> {period}`.",
                     "zh": "该时间段没有 {metric} 目标。可用 `goal set {metric} <目标值> {period}` 设置，"
                     "或用 `plan {metric} <目标值> {period}` 预览。"},
    "plan_level_metric": {"en": "{metric} is a ratio: its goal is a level, so there is nothing to split. See `pace {metric}`.",
                          "zh": "{metric} 是比率指标，目标是一个水平值，无需拆解。见 `pace {metric}`。"},
    "plan_period_over": {
        "en": "{period} is over: a plan splits a goal for a period still to come, so there is nothing to plan there. "
        "How it went: `kpi {metric} {label}`.",
        "zh": "{period} 已经结束：计划用于拆解尚未结束时间段的目标，这里没有可规划的。查看当时的表现：`kpi {metric} {label}`。",
    },
    "plan_no_running_goal": {"en": "No goal to plan yet. Set one with `goal set gmv <target> {period}`, or preview "
                             "with `plan gmv <target> {period}`.",
                             "zh": "还没有可拆解的目标。可用 `goal set gmv <目标值> {period}` 设置，或用 "
                             "`plan gmv <目标值> {period}` 预览。"},
    "plan_which_goal": {"en": "Several goals are running: which one? {choices}", "zh": "有多个进行中的目标，请指定：{choices}"},
    "plan_holiday": {"en": "{holiday} ({day}): weighted by what the history's {seen} did — {bins}.",
                     "zh": "{holiday}（{day}）：按历史中 {seen} 的表现加权——{bins}。"},
    "plan_holiday_partly": {"en": "{holiday} ({day}): weighted by what the history's {seen} did — {bins}; its other days "
                            "are not in the history and weigh 1 (no effect assumed).",
                            "zh": "{holiday}（{day}）：按历史中 {seen} 的表现加权——{bins}；其余相关日期历史未覆盖，"
                            "权重按 1 计（不假设影响）。"},
    "plan_holiday_unseen": {"en": "{holiday} ({day}): not in the history, so the days around it weigh 1 (no effect "
                            "assumed); the plan learns it once the history holds one.",
                            "zh": "{holiday}（{day}）：历史数据未覆盖，前后日期权重按 1 计（不假设影响）；"
                            "历史中有一次后计划即可学到。"},
    "plan_holiday_promo_only": {"en": "{holiday} ({day}): its promotion days weigh as the history's promotions did — "
                                "{bins}; the other days around it are not in the history and weigh 1 (no effect assumed).",
                                "zh": "{holiday}（{day}）：大促日按历史大促的表现加权——{bins}；前后其他日期历史未覆盖，"
                                "权重按 1 计（不假设影响）。"},
    "plan_holiday_days": {"en": "days {first}…{last} ×{weight}", "zh": "第 {first}…{last} 天 ×{weight}"},
    "plan_holiday_day": {"en": "day {first} ×{weight}", "zh": "第 {first} 天 ×{weight}"},
    "holiday_cny": {"en": "Chinese New Year", "zh": "春节"},
    "holiday_618": {"en": "618", "zh": "618"},
    "holiday_11.11": {"en": "11.11", "zh": "双11"},
    # ---- pace ---------------------------------------------------------------------------------
    "pace_title": {"en": "Pace: {metric}, {period}", "zh": "目标进度：{metric}，{period}"},
    "pace_title_all": {"en": "Pace of the goals", "zh": "目标进度"},
    "pace_line": {
        "en": "{metric} {period}: {actual} of {goal} ({attainment}) after {days} days, plan to date {plan}; "
        "projected {projected} ({level} range {low}–{high}) · {verdict}",
        "zh": "{metric} {period}：{days} 天已完成 {actual} / {goal}（{attainment}），计划应完成 {plan}；预计 {projected}"
        "（{level} 区间 {low}–{high}）· {verdict}",
    },
    "pace_line_not_started": {
        "en": "{metric} {period}: not started. At the last {days} days' rate it would land at {projected} "
        "({level} range {low}–{high}) against the goal {goal} · {outlook} at that rate",
        "zh": "{metric} {period}：尚未开始。按近 {days} 天的速度推算将完成 {projected}（{level} 区间 {low}–{high}），"
        "目标 {goal} · 按此速度{outlook}",
    },
    "pace_line_done": {"en": "{metric} {period}: {actual} of {goal} ({attainment}) · {verdict}",
                       "zh": "{metric} {period}：完成 {actual} / {goal}（{attainment}）· {verdict}"},
    "pace_line_no_projection": {"en": "{metric} {period}: {actual} of {goal}; no recent data to project from · {verdict}",
                                "zh": "{metric} {period}：已完成 {actual} / {goal}；近期没有数据，无法推算 · {verdict}"},
    "pace_line_level": {"en": "{metric} {period}: {level} to date vs target {target} · {verdict}",
                        "zh": "{metric} {period}：截至目前 {level}，目标 {target} · {verdict}"},
    "pace_actual": {"en": "Actual", "zh": "实际"},
    "pace_plan": {"en": "Plan", "zh": "计划"},
    "pace_plan_to_date": {"en": "Plan to date", "zh": "计划至今"},
    "pace_attainment": {"en": "Attainment", "zh": "完成率"},
    "pace_gap": {"en": "Gap to plan", "zh": "与计划差距"},
    "pace_projected": {"en": "Projected landing", "zh": "预计完成"},
    "pace_range": {"en": "{level} range {low} – {high}", "zh": "{level} 区间 {low} – {high}"},
    "pace_of_goal": {"en": "{pct} of goal", "zh": "目标的 {pct}"},
    "pace_needed": {"en": "Needed per day", "zh": "每日需完成"},
    "pace_per_day": {"en": "{value}/day for {days} days", "zh": "{value}/天，共 {days} 天"},
    "pace_goal_reached": {"en": "nothing more: the goal is reached", "zh": "无需更多：目标已达成"},
    "pace_needed_vs_rate": {"en": "{ratio} the last {days} days' rate (seasonally adjusted)",
                            "zh": "为近 {days} 天速度（已做季节性调整）的 {ratio}"},
    "pace_needed_vs_plan": {"en": "{pct} of the remaining plan", "zh": "为剩余计划的 {pct}"},
    "pace_method": {"en": "Projection: the plan for the remaining days × the last {days} days' run-rate against plan "
                    "({ratio}); the {level} range from how much that rate varies day to day and how far ahead it reaches.",
                    "zh": "预测方法：剩余天数的计划 × 近 {days} 天相对计划的完成率（{ratio}）；{level} 区间来自该完成率的"
                    "逐日波动与推算的远近。"},
    "pace_method_before": {
        "en": "Projection: the last {days} days ({per_day}/day) ran at {ratio} of the plan's pace (the weekday, month, "
        "promotion and trend weights the plan uses), carried over the remaining days; the {level} range from how "
        "much that rate varies day to day and how far ahead it reaches.",
        "zh": "预测方法：近 {days} 天（{per_day}/天）相当于计划曲线（与计划相同的星期、月份、大促与趋势权重）的 {ratio}，"
        "据此推算剩余天数；{level} 区间来自该速度的逐日波动与推算的远近。",
    },
    "pace_no_goal": {"en": "No running goal to pace. Set one with `goal set {metric} <target> <period>`.",
                     "zh": "没有进行中的目标。可用 `goal set {metric} <目标值> <时间段>` 设置。"},
    "pace_no_spend_plan": {"en": "No adopted budget covers today. Adopt one from `budget <amount>`.",
                           "zh": "没有覆盖今天的已采用预算。可在 `budget <金额>` 的结果中采用。"},
    "pace_spend_title": {"en": "Spend vs budget plan, {period}", "zh": "推广费用对比预算计划，{period}"},
    # ---- budget ---------------------------------------------------------------------------------
    "budget_title": {"en": "Budget {amount}, {period}", "zh": "预算 {amount}，{period}"},
    "budget_intro": {
        "en": "Split of {amount} for {period} maximising the {objective} the spend brings, from each channel's "
        "response to spend.",
        "zh": "{period} 的 {amount} 预算分配，按各渠道对投放的响应，使投放带来的{objective}最大。",
    },
    "budget_uplift": {"en": "Versus spending it like the last 28 days: {uplift} expected ({range}).",
                      "zh": "与按近 28 天的结构投放相比：预期 {uplift}（{range}）。"},
    "budget_uplift_unsure": {
        "en": "⚠ The range reaches no gain or a loss: the history cannot tell this split from the recent one. Treat it "
        "as a test (move part of the money for a few weeks and ask again), not as a plan.",
        "zh": "⚠ 区间包含零或负值：历史数据无法区分此分配与近期结构的优劣。请把它当作测试（先调整部分预算几周后再问），"
        "而不是计划。",
    },
    "budget_incremental": {
        "en": "Brought by the spend: {value} ({range}), on top of about {baseline} the channels bring without it "
        "(their baseline, which no split changes).",
        "zh": "投放带来：{value}（{range}），另有约 {baseline} 为各渠道不投放也会带来的基线（任何分配都不改变）。",
    },
    "budget_range": {"en": "80% range {lo} – {hi}", "zh": "80% 区间 {lo} – {hi}"},
    "budget_vs_even": {"en": "Versus an even split: {change} expected.", "zh": "与平均分配相比：预期 {change}。"},
    "budget_unplaced": {
        "en": "⚠ {amount} not placed: more than the channels have absorbed (no channel is given more than its 95th-"
        "percentile day of spend, which is as far as its history shows a return). Hold it back, or spend it as a "
        "test and let the next fit measure it.",
        "zh": "⚠ {amount} 未分配：超出各渠道历史上能承接的投放（每个渠道最多分到其日投放第 95 百分位的水平，"
        "再高历史数据无法证明回报）。可保留，或作为测试投放，由下次拟合衡量。",
    },
    "budget_weak": {
        "en": "Weak fit for {channels} (r² below {r2}): spend explains too little of their day-to-day outcome, so "
        "they get no more than their current daily spend, and their range is wide.",
        "zh": "{channels}拟合较弱（r² 低于 {r2}）：投放对其日产出的解释力太低，因此分配不超过其当前日投放，区间也较宽。",
    },
    "budget_uncredited": {
        "en": "⚠ The minimum shares put {channels} beyond what its history shows it can absorb: that part is spent "
        "as asked, but no return is counted for it.",
        "zh": "⚠ 最低占比使 {channels} 超出其历史承接能力：超出部分按要求投放，但不计任何回报。",
    },
    "budget_thin": {"en": "Not enough history to fit (fewer than {days} days with varying spend), left out: {channels}.",
                    "zh": "历史数据不足（有投放且有变化的天数少于 {days} 天），未纳入：{channels}。"},
    "budget_method": {
        "en": "Method: per channel, daily outcome = demand × (c + a·log(1 + spend/b)), fitted on the last {days} days "
        "(demand: weekday and growth; GMV fitted as orders × the channel's value per order; unusual days left out). "
        "The split equalises the marginal return across channels within the limits; a move away from the recent "
        "split is credited at its marginal return less one standard error (the fitted curves flatter the split "
        "chosen on them), and the ranges, from refitting on resampled weeks, are widened by that allowance. "
        "Expectations, not promises: see bench/README.md for how they compare with the truth on the demo shop.",
        "zh": "方法：每个渠道按近 {days} 天拟合 日产出 = 需求 × (c + a·log(1 + 投放/b))（需求含星期与增长；销售额按"
        "订单量 × 渠道单均价值拟合；异常日不计入）。在约束内使各渠道边际回报相等；偏离近期结构的调整按边际回报减去一个"
        "标准误计入（按拟合曲线选出的分配会高估自身），区间来自按周重抽样后重新拟合，并按这部分扣减放宽。"
        "这是预期而非承诺：与演示店铺真实值的对比见 bench/README.md。",
    },
    "budget_spend": {"en": "Spend", "zh": "投放"},
    "budget_from_spend": {"en": "{metric} from spend", "zh": "投放带来的{metric}"},
    "budget_range_column": {"en": "80% range", "zh": "80% 区间"},
    "budget_iroas": {"en": "Incremental ROAS", "zh": "增量 ROAS"},
    "budget_icac": {"en": "Incremental CAC", "zh": "增量获客成本"},
    "budget_current": {"en": "Split like last 28 days", "zh": "按近 28 天结构"},
    "budget_note": {"en": "Note", "zh": "说明"},
    "budget_note_weak": {"en": "weak fit (r² {r2}): no more per day than in the last 28 days",
                         "zh": "拟合弱（r² {r2}）：日投放不超过近 28 天水平"},
    "budget_note_cap": {"en": "at the most its history supports", "zh": "已达历史可支撑上限"},
    "budget_note_uncredited": {"en": "{amount} beyond capacity, no return counted", "zh": "超出承接能力 {amount}，不计回报"},
    "budget_not_at_scope": {
        "en": "Marketing spend is recorded per channel only, so a budget cannot be planned for {scope}. Ask in a chat "
        "without that scope (or one scoped by channel).",
        "zh": "推广费用只按渠道记录，无法为 {scope} 规划预算。请在没有该范围限制（或按渠道限制）的聊天中询问。",
    },
    "budget_adopt_button": {"en": "Adopt", "zh": "采用"},
    "budget_adopted": {"en": "Adopted as the channel spend plan for {period}; track it with `pace spend`.",
                       "zh": "已采用为 {period} 的渠道投放计划；用 `pace spend` 跟踪。"},
    "budget_need_amount": {"en": "How much? e.g. `budget 200000 next month`.", "zh": "预算金额是多少？例如 `budget 200000 下月`。"},
    "budget_not_positive": {"en": "The budget must be a positive amount (got {amount}).", "zh": "预算必须是正数（收到 {amount}）。"},
    "budget_unknown_channel": {"en": "Unknown channel '{name}'.{suggestion} Channels: {choices}.",
                               "zh": "未知渠道「{name}」。{suggestion}可用渠道：{choices}。"},
    "budget_objective": {"en": "I can optimise for gmv or new_customers, not '{name}'.",
                         "zh": "只能按 gmv 或 new_customers 优化，不支持「{name}」。"},
    "budget_bad_share": {"en": "I can't read the share '{text}'. Write e.g. `min 10%`, `max 50%`, `search>=20%`.",
                         "zh": "无法识别占比「{text}」。请写成 `min 10%`、`max 50%`、`search>=20%` 这样的形式。"},
    "budget_min_over_100": {"en": "The minimum shares add up to {total}% — over 100%. Lower them.",
                            "zh": "最低占比合计 {total}%，超过 100%。请调低。"},
    "budget_max_under_100": {"en": "The maximum shares add up to only {total}% — the budget cannot all be spent. Raise them.",
                             "zh": "最高占比合计仅 {total}%，预算无法全部分配。请调高。"},
    "budget_min_over_max": {"en": "{channel}: minimum {min}% is above maximum {max}%.", "zh": "{channel}：最低 {min}% 高于最高 {max}%。"},
    "budget_no_channels": {"en": "No channel has spend history to allocate on.", "zh": "没有任何渠道有投放历史可供分配。"},
    "budget_no_history": {"en": "Not enough spend history to fit these channels ({channels}).",
                          "zh": "这些渠道（{channels}）的投放历史不足，无法拟合。"},
    # ---- segments ---------------------------------------------------------------------------------
    "segments_title": {"en": "Customer segments as of {day}", "zh": "客户分层（截至 {day}）"},
    "segments_intro": {"en": "{customers} customers; change vs {previous}.", "zh": "共 {customers} 位客户；变化对比 {previous}。"},
    # the rules with the days they mean (metrics/segments.py rule_days), so a reader can check any
    # customer's last order day in an export against them
    "segments_rules": {
        "en": "Rules, by the day of the last order: New: first order {new_from} – {day} (the last {new_days} days) · "
        "Champions: last order {active_from} – {day} (the last {active_days} days), {champion_orders}+ orders or "
        "GMV in the top {top} · Active: last order {active_from} – {day}, the rest · At risk: last order "
        "{risk_from} – {risk_to} (the {risk_days} days before), {risk_orders}+ orders or GMV in the top {top} · "
        "Dormant: last order {lost_before} – {risk_to}, the rest · Lost: last order before {lost_before}.",
        "zh": "规则（按最近下单日）：新客：首单在 {new_from} 至 {day}（近 {new_days} 天）· 高价值：最近下单在 "
        "{active_from} 至 {day}（近 {active_days} 天），且 {champion_orders} 单以上或消费前 {top} · 活跃：最近下单在 "
        "{active_from} 至 {day}，其余客户 · 流失风险：最近下单在 {risk_from} 至 {risk_to}（再往前 {risk_days} 天），"
        "且 {risk_orders} 单以上或消费前 {top} · 沉睡：最近下单在 {lost_before} 至 {risk_to}，其余客户 · "
        "流失：最近下单早于 {lost_before}。",
    },
    "segments_shift": {
        "en": "⚠ Segment shift: {customers} Champions slipped to At risk or Dormant in the last month ({rate}, usually {usual}).",
        "zh": "⚠ 分层异动：近一个月有 {customers} 位高价值客户转为流失风险/沉睡（{rate}，通常为 {usual}）。",
    },
    "segments_vs_last_month": {"en": "vs last month", "zh": "较上月"},
    "segment_action": {"en": "Playbook", "zh": "运营动作"},
    "segments_export_button": {"en": "Export {segment}", "zh": "导出{segment}"},
    "segments_export_title": {"en": "Export: {segment} ({count} customers)", "zh": "导出：{segment}（{count} 位客户）"},
    # "attached" would be untrue on the console, which writes the file and says where
    "segments_export_text": {"en": "CSV file {filename} (customer id, last order day, orders, GMV, segment).",
                             "zh": "CSV 文件 {filename}（客户编号、最近下单日、订单数、销售额、分群）。"},
    "segment_export_usage": {"en": "Which segment? e.g. `segments export dormant`. Segments: {choices}.",
                             "zh": "导出哪个分群？例如 `segments export dormant`。可选：{choices}。"},
    "segment_unknown": {"en": "Unknown segment '{name}'.{suggestion} Segments: {choices}.",
                        "zh": "未知分群「{name}」。{suggestion}可选分群：{choices}。"},
    "segment_new": {"en": "New", "zh": "新客"},
    # one name per segment and language, in the legend, the table, the buttons and the alerts
    "segment_champions": {"en": "Champions", "zh": "高价值"},
    "segment_active": {"en": "Active", "zh": "活跃"},
    "segment_at_risk": {"en": "At risk", "zh": "流失风险"},
    "segment_dormant": {"en": "Dormant", "zh": "沉睡"},
    "segment_lost": {"en": "Lost", "zh": "流失"},
    "segment_action_new": {"en": "Welcome series; nudge a second order", "zh": "新客欢迎礼，引导二次购买"},
    "segment_action_champions": {"en": "Exclusive benefits, early access, VIP service", "zh": "专属权益、新品优先、VIP 服务"},
    "segment_action_active": {"en": "Cross-sell; grow frequency with member points", "zh": "交叉推荐，用会员积分提升频次"},
    "segment_action_at_risk": {"en": "Win back now: personal offer before they go dormant", "zh": "立即挽回：在沉睡前发送专属优惠"},
    "segment_action_dormant": {"en": "Wake up: reactivation coupon, what's new", "zh": "唤醒：回归优惠券、新品推荐"},
    "segment_action_lost": {"en": "Low-cost reminders only; learn why they left", "zh": "仅低成本触达；调研流失原因"},
    # ---- campaigns ---------------------------------------------------------------------------------
    "campaign_usage": {"en": "Use `campaign add <name> <period>`, `campaign report <name>` or `campaign rm <id>`.",
                       "zh": "用法：`campaign add <名称> <时间段>`、`campaign report <名称>` 或 `campaign rm <编号>`。"},
    "campaign_add_usage": {"en": "Use `campaign add <name> <period> [channel …] [spend <amount>]`, e.g. "
                           "`campaign add 双11 2026-11-08..2026-11-12`.",
                           "zh": "用法：`campaign add <名称> <时间段> [渠道 …] [spend <金额>]`，例如 "
                           "`campaign add 双11 2026-11-08..2026-11-12`。"},
    "campaign_bad_name": {"en": "A campaign name is 1 to {limit} characters; quote one with spaces: "
                                "`campaign add \"Black Friday\" 2026-11-27..2026-11-30`.",
                          "zh": "活动名称为 1 至 {limit} 个字符；带空格的名称请加引号："
                                "`campaign add 「黑色星期五」 2026-11-27..2026-11-30`。"},
    "campaign_report_usage": {"en": "Which campaign? e.g. `campaign report 双11` (see `campaigns`).",
                              "zh": "复盘哪个活动？例如 `campaign report 双11`（见 `campaigns`）。"},
    "campaign_need_period": {"en": "The campaign needs its days, e.g. 2026-11-08..2026-11-12.",
                             "zh": "请给出活动日期，例如 2026-11-08..2026-11-12。"},
    "campaign_bad_spend": {"en": "The spend must be a positive amount (got '{text}').", "zh": "活动费用必须是正数（收到「{text}」）。"},
    "campaign_need_id": {"en": "Give the campaign's number, e.g. `campaign rm 3` (see `campaigns`).",
                         "zh": "请给出活动编号，例如 `campaign rm 3`（见 `campaigns`）。"},
    "campaign_not_found": {"en": "No campaign '{name}'. {choices}", "zh": "没有活动「{name}」。{choices}"},
    "campaign_no_data": {"en": "No data yet for the days of {name}.", "zh": "活动 {name} 的日期还没有数据。"},
    "campaign_added": {"en": "Campaign #{id} {name}: {period}, {channels}. It counts as an expected peak for alerts.",
                       "zh": "活动 #{id} {name}：{period}，{channels}。告警会将其视为预期高峰。"},
    "campaign_all_channels": {"en": "all channels", "zh": "全部渠道"},
    "campaign_exists": {"en": "Campaign #{id} {name} is already on the calendar for {period}. Nothing added.",
                        "zh": "活动 #{id} {name} 已在日历中：{period}。未重复添加。"},
    "campaign_in_data": {"en": "{name} is already on the calendar from the data for {period}. Nothing added.",
                         "zh": "{name} 已在数据的活动日历中：{period}。未重复添加。"},
    "campaign_same_name_overlap": {
        "en": "Campaign #{id} {name} already covers {period}, which overlaps these days. To change its dates, "
              "`campaign rm {id}` first; for a separate campaign, give it another name.",
        "zh": "活动 #{id} {name} 已覆盖 {period}，与这些日期重叠。如要修改日期，请先 `campaign rm {id}`；"
              "如是另一个活动，请换个名称。"},
    "campaign_overlaps": {"en": "Note: its days overlap {others}.",
                          "zh": "注意：本活动与以下活动日期重叠：{others}。"},
    "campaign_overlap_data": {"en": "{name} (from the data, {period})", "zh": "{name}（来自数据，{period}）"},
    "campaign_removed": {"en": "Removed campaign #{id} {name}.", "zh": "已删除活动 #{id} {name}。"},
    "campaign_none": {"en": "No campaigns yet. Add one with `campaign add 双11 2026-11-08..2026-11-12`.",
                      "zh": "还没有活动。可用 `campaign add 双11 2026-11-08..2026-11-12` 添加。"},
    "campaigns_title": {"en": "Campaign calendar", "zh": "活动日历"},
    "campaign_name": {"en": "Name", "zh": "名称"},
    "campaign_from_data": {"en": "(from data)", "zh": "（来自数据）"},
    "campaign_title": {"en": "Campaign {name}: {period}", "zh": "活动复盘 {name}：{period}"},
    "campaign_chart_title": {"en": "{name}: GMV vs baseline", "zh": "{name}：销售额对比基线"},
    "campaign_intro": {
        "en": "Lift over {days} days against a seasonal baseline from the {baseline_days} days before "
        "(trend and weekday profile, other promotions and the week after them left out). The baseline is an "
        "estimate: the {level} range of the lift is its uncertainty.",
        "zh": "{days} 天活动的增量，基线来自活动前 {baseline_days} 天（趋势与星期规律，剔除其他大促及其后一周）。"
        "基线是估计值：提升的 {level} 区间即其不确定性。",
    },
    "campaign_post_dip": {"en": "After the campaign ({days} days): {value} vs baseline — sales pulled forward; "
                          "net incremental GMV {net}.",
                          "zh": "活动后 {days} 天：相对基线 {value}，存在提前透支；净增量销售额 {net}。"},
    "campaign_post": {"en": "After the campaign ({days} days): {value} vs baseline, no pull-forward dip; net incremental GMV {net}.",
                      "zh": "活动后 {days} 天：相对基线 {value}，未见透支；净增量销售额 {net}。"},
    "campaign_aov": {"en": "AOV {aov} vs {baseline} before ({change}).", "zh": "客单价 {aov}，活动前 {baseline}（{change}）。"},
    "campaign_roi": {"en": "Campaign cost (as added): {spend}; net incremental GMV per unit of it {roi}.",
                     "zh": "活动费用（添加时填写）：{spend}；每单位费用带来的净增量销售额 {roi}。"},
    # what the cost figure is a part of: the campaign days' whole marketing spend (issue 24)
    "campaign_spend_window": {"en": "Marketing spend over the campaign days ({channels}): {window}; the {baseline_days} "
                              "days before would have put it at {baseline}.",
                              "zh": "活动期间推广费用（{channels}）：{window}；按活动前 {baseline_days} 天推算应为 {baseline}。"},
    "campaign_roi_estimated": {
        "en": "No campaign cost was given, so it is estimated as the spend above that baseline: {window} − {baseline} "
        "= {spend}; net incremental GMV per unit of it {roi}. Add the real cost with `spend <amount>`.",
        "zh": "未提供活动费用，因此按高出基线的推广费用估计：{window} − {baseline} = {spend}；每单位带来的净增量销售额 "
        "{roi}。可用 `spend <金额>` 填写实际费用。",
    },
    "campaign_spend_not_above": {
        "en": "No campaign cost was given, and the spend was not above its baseline, so none can be estimated from it: "
        "ROI not computed (add the cost with `spend <amount>`).",
        "zh": "未提供活动费用，且推广费用未高于基线，无法据此估计：未计算 ROI（可用 `spend <金额>` 填写费用）。",
    },
    "campaign_no_spend": {"en": "No spend known for this campaign: ROI not computed (add it with `spend <amount>`).",
                          "zh": "未知活动费用，未计算 ROI（添加时可用 `spend <金额>`）。"},
    "campaign_last_year": {"en": "Last year's edition ({period}): GMV {gmv}; this year's {change} on it.",
                           "zh": "去年同活动（{period}）：销售额 {gmv}；今年相比 {change}。"},
    "campaign_no_last_year": {"en": "No data for the same event last year.", "zh": "没有去年同一活动的数据。"},
    "campaign_note_short_baseline": {"en": "⚠ Fewer than 14 days before the campaign: the baseline is rough.",
                                     "zh": "⚠ 活动前数据不足 14 天，基线较粗略。"},
    "campaign_note_in_progress": {"en": "The campaign is still running: days so far only.",
                                  "zh": "活动仍在进行中：仅统计至今的天数。"},
    "campaign_actual": {"en": "Actual", "zh": "实际"},
    "campaign_baseline": {"en": "Baseline", "zh": "基线"},
    "campaign_incremental": {"en": "Incremental", "zh": "增量"},
    "campaign_lift": {"en": "Lift", "zh": "提升"},
    "campaign_lift_last_year": {"en": "Lift last year", "zh": "去年提升"},
    "campaign_lift_range": {"en": "Lift, {level} range", "zh": "提升 {level} 区间"},
    "campaign_last_year_line": {"en": "Last year (by event day)", "zh": "去年（按活动日对齐）"},
}
