"""Platforms: each adapter translates a platform's events into `Incoming` values for the
dispatcher, and a `Reply` into the platform's own format (blocks, HTML, cards), within its limits.

One module per platform with a single file (`console`), one sub-package where a platform needs
more than one (`slack/`, `telegram/`: adapter and renderer). `base` holds what every adapter
shares (the `Adapter` protocol, delivery errors).

May import: the core (`bot.context`, `bot.dispatch`, `bot.reply`, `bot.errors`), `bot.text` and
its platform's SDK. Never `handlers`, `metrics` or SQL."""
