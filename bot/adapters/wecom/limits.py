"""WeCom group robot limits, from the official "群机器人配置说明"
(https://developer.work.weixin.qq.com/document/path/99110, formerly
work.weixin.qq.com/api/doc/90000/90136/91770)."""

from __future__ import annotations

# "markdown内容，最长不超过4096个字节，必须是utf8编码": bytes of UTF-8, not characters
MAX_MARKDOWN_BYTES = 4096
# "文本内容，最长不超过2048个字节，必须是utf8编码"
MAX_TEXT_BYTES = 2048
# "图片（base64编码前）最大不能超过2M，支持JPG,PNG格式"
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
# upload_media: "要求文件大小在5B~20M之间"; the media_id is valid three days, for this robot only
MIN_FILE_BYTES = 5
MAX_FILE_BYTES = 20 * 1024 * 1024
# "每个机器人发送的消息不能超过20条/分钟"
MESSAGES_PER_MINUTE = 20
WINDOW_SECONDS = 60.0
# after a 45009 (api freq out of limit) the robot is left alone this long
THROTTLE_BACKOFF_SECONDS = 60.0
