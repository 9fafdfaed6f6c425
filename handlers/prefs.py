"""`lang`: a chat's reply language."""

from __future__ import annotations

from bot.core import Args, Context, Router
from bot.errors import UsageError
from bot.messages import LANGUAGES, t
from bot.reply import Reply

router = Router()

_WORDS = {"en": "en", "english": "en", "英文": "en", "英语": "en", "zh": "zh", "chinese": "zh", "中文": "zh",
          "cn": "zh", "auto": None, "default": None, "默认": None}


@router.command("lang", aliases=("language", "语言"), usage="lang en | zh | auto", examples=("lang zh", "lang en"))
async def lang(ctx: Context, args: Args) -> Reply:
    if not args.tokens:
        return Reply(text=[ctx.t("lang_current", lang=ctx.lang)], data={"language": ctx.lang})
    word = args.tokens[0].lower()
    if word not in _WORDS or len(args.tokens) > 1:
        raise UsageError("lang_unknown", value=args.raw[:40], choices=", ".join(LANGUAGES))
    choice = _WORDS[word]
    chat = str(ctx.incoming.chat)
    await ctx.run(ctx.services.store.set_chat_language, chat, choice, ctx.incoming.user)
    shown = choice or ctx.settings.bot.language
    return Reply(text=[t(shown, "lang_set" if choice else "lang_auto", lang=shown)], data={"language": choice})
