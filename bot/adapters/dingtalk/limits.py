"""DingTalk's documented numbers, with where they are written down.

Sources: open.dingtalk.com "机器人发送群聊消息" (/v1.0/robot/groupMessages/send: msgParam at most
15,000 bytes), "企业机器人发送消息的消息类型" (sampleMarkdown, sampleImageMsg whose photoURL may be a
mediaId, sampleFile), "上传媒体文件" (media/upload; a file message's media at most 10 MB), "自定义
机器人发送群消息" (20 messages a minute per robot and group, then throttled for 10 minutes: we hold
app robots to the same pace per group), "创建并投放卡片" (/v1.0/card/instances/createAndDeliver)
and the outgoing robot's "接收消息" page (timestamp + sign headers; a timestamp more than an hour
from now is to be refused).
"""

from __future__ import annotations

MAX_MSG_PARAM_BYTES = 15_000  # a robot message's msgParam JSON
CARD_BUDGET = 12_000  # what render fills one card's markdown to (the card API states no lower limit)
MAX_MEDIA_BYTES = 10 * 1024 * 1024  # images and files uploaded as media
MAX_BUTTONS = 10  # buttons on one card (our choice: a phone screen shows about that many)
MAX_TITLE = 60
GROUP_PER_MINUTE = 20
THROTTLE_BACKOFF_SECONDS = 60.0  # after DingTalk answered "too fast" for a group
SIGNATURE_MAX_AGE = 3600  # seconds, the outgoing robot's timestamp window
# the markdown-with-buttons card template the official SDK ships (MarkdownButtonCardInstance):
# cardParamMap {title, markdown, tips, sys_full_json_obj: {"msgButtons": [...]}}
CARD_TEMPLATE = "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema"
