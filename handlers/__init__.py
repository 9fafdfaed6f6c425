"""The commands: each module holds one family's handlers on its own `Router`, and bot/app.py
includes every router explicitly. A handler takes a `Context` and typed arguments, decides, asks
`metrics` for the numbers and returns a `Reply`.

May import: the core (`bot.context`, `bot.router`, `bot.reply`, `bot.errors`, `bot.tokens`),
`bot.text`, `bot.state`, `metrics`. Never an adapter or a platform SDK."""
