"""Slack through slack-bolt: `adapter` (`SlackAdapter`: Socket Mode and HTTP events, slash commands,
button clicks, uploads, replay guard; `slack_from_env`), `config` (`SlackConfig` from `[slack]` and
SLACK_*), `inbound` (what a payload says: command text, DM, team), `requests` (HTTP mode's checks
before Bolt: signature, shape, replay key), `retries` (the clients' retry handlers), `errors`
(Slack's error codes as a `DeliveryError`), `render` (a `Reply` as Block Kit), `limits` (Slack's
numbers) and `manifest.yaml` (the app manifest `opsbot slack-manifest` prints). May import what
bot/adapters may, and slack_bolt/slack_sdk."""
