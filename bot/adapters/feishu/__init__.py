"""The Feishu/Lark adapter on the official SDK, lark-oapi.

Modules: `adapter` (FeishuAdapter, feishu_from_env), `config` (FEISHU_* environment and `[feishu]`),
`inbound` (events as `Incoming`), `render` (a `Reply` as interactive cards), `limits` (documented
sizes and rates), `errors` (API codes as `DeliveryError`), `openapi` (the SDK client: messages,
cards, images, files), `ws` (the SDK's long connection on a thread of its own), `http` (signed,
encrypted event callbacks with replay keys).
"""
