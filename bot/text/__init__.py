"""Every word opsbot says, in English and Chinese: `messages` (the core catalogue and `t()`),
`planning` and `coverage` (the catalogues of those commands), `i18n` (numbers, money, dates and
percentages by locale, through Babel) and `language` (the rule that picks a reply's language).

May import: `metrics` values (KPI names) and Babel only: text knows no chat and no platform."""
