"""Telegram through python-telegram-bot: `adapter` (polling and webhook, commands in private
chats and groups, inline buttons, photos and files) and `render` (a `Reply` as Telegram HTML
within its message and caption limits). May import what bot/adapters may, and telegram."""
