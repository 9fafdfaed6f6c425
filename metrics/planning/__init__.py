"""Planning: `goals` (goals, the plan that meets them, pacing), `budget` (spend response and the
budget split), `campaigns` (campaign lift against a baseline) and `holidays` (the calendar
effects the plan's seasonality needs)."""
