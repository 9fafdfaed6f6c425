"""Telegram through python-telegram-bot: `adapter` (`TelegramAdapter`: polling and webhook, commands
in private chats and groups, inline buttons, photos and files; `telegram_from_env`), `inbound` (what a
message says: chat, sender, language, the command addressed to this bot), `webhook` (the secret
token, the update's shape, its replay key), `polling` (getUpdates minus unreadable updates),
`retries` (`RetryPolicy`, flood-control waits, the plain-text resend), `render` (a `Reply` as
Telegram HTML) and `limits` (Telegram's message, caption and callback-data limits). May import what
bot/adapters may, and telegram."""
