"""The DingTalk adapter: robot messages in over the official SDK's Stream mode (dingtalk-stream) or
the outgoing robot's signed HTTP callbacks; replies and pushes out through DingTalk's OpenAPI.

Modules: `adapter` (DingTalkAdapter, dingtalk_from_env), `config` (DINGTALK_* environment and
`[dingtalk]`), `inbound` (robot messages and card clicks as `Incoming`), `render` (a `Reply` as
interactive cards), `limits` (documented sizes and rates), `errors` (API answers as
`DeliveryError`), `openapi` (access token, robot messages, cards, media uploads), `stream` (the
SDK's Stream client on our loop), `http` (outgoing-robot callbacks with their signature checked).
"""
