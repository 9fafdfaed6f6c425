"""Planning commands (issue 8): one module per command family, each on its own `Router`, and two they share:

    goals.py      goal set/list/rm, plan, pace (the goals' split into period targets and their pacing)
    budget.py     budget, and `pace spend` against the spend plan `budget adopt` saves
    segments.py   segments, segments export
    campaigns.py  campaign add/report/rm, campaigns
    basics.py     what they share: amount and period parsers, value formats, today, the admin check
    history.py    the shop's history they read: promotion days and events, daily series, seasonal profile

Handlers parse and render; the numbers come from metrics/planning/goals.py, budget.py and
campaigns.py, and metrics/segments.py. Blocking work (SQL, pandas, charts) runs through ctx.run.
"""
