"""Slack through slack-bolt: `adapter` (Socket Mode and HTTP events, slash commands, button
clicks, uploads, replay guard), `render` (a `Reply` as Block Kit within Slack's limits) and
`manifest.yaml` (the app manifest `opsbot slack-manifest` prints). May import what
bot/adapters may, and slack_bolt/slack_sdk."""
