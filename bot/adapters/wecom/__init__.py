"""WeCom (企业微信) group robots: push only. A group robot is a webhook; it cannot receive commands,
show buttons or edit a message, so opsbot only pushes digests and alerts into it (use Feishu or
DingTalk for commands). `adapter` (`WeComAdapter`: send only, the per-robot one-minute limiter;
`wecom_from_env`), `config` (`WeComConfig` from `[wecom] robots` and the environment), `render`
(a `Reply` as markdown, image and file messages), `limits` (WeCom's documented sizes and rate) and
`errors` (its errcodes as `DeliveryError`). May import what bot/adapters may, and aiohttp."""
