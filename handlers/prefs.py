"""`lang`: a chat's reply language."""

from __future__ import annotations

from sqlalchemy import select

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Reply, Table
from bot.router import Router
from bot.state.store import AuditEntry
from bot.text.messages import LANGUAGES, dimension_label, t

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
    ctx.require_chat_settings("lang")  # one chat's language is everyone's in it
    chat = str(ctx.incoming.chat)
    await ctx.run(ctx.services.store.set_chat_language, chat, choice, ctx.incoming.user)
    shown = choice or ctx.settings.bot.language
    return Reply(text=[t(shown, "lang_set" if choice else "lang_auto", lang=shown)], data={"language": choice})


@router.command("whoami", aliases=("我是谁",), usage="whoami", examples=("whoami",))
async def whoami(ctx: Context, args: Args) -> Reply:
    role = ctx.t("role_admin") if ctx.is_admin else ctx.t("role_member")
    scope = "; ".join(f"{dimension_label(d, ctx.lang)} ({d}) = {', '.join(v)}" for d, v in ctx.scope.items())
    text = [ctx.t("whoami", chat=str(ctx.incoming.chat), user=ctx.incoming.user, role=role),
            ctx.t("whoami_scope", scope=scope) if scope else ctx.t("whoami_unscoped")]
    return Reply(text=text, data={"chat": str(ctx.incoming.chat), "user": ctx.incoming.user, "admin": ctx.is_admin,
                                  "scope": {d: list(v) for d, v in ctx.scope.items()}})


@router.command("audit", aliases=("审计",), admin=True, usage="audit [n]", examples=("audit", "audit 50"))
async def audit(ctx: Context, args: Args) -> Reply:
    if len(args.tokens) > 1 or (args.tokens and not (args.tokens[0].isascii() and args.tokens[0].isdigit())):
        raise UsageError("audit_usage")
    limit = min(int(args.tokens[0]), 200) if args.tokens else 20

    def load() -> list[AuditEntry]:
        with ctx.services.store.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all())

    entries = await ctx.run(load)
    rows = [[e.at.strftime("%m-%d %H:%M"), e.chat, e.user, e.command[:40], e.outcome, str(e.duration_ms)]
            for e in entries]
    return Reply(title=ctx.t("audit_title"),
                 tables=[Table(["UTC", ctx.t("chat"), "user", "command", ctx.t("status"), "ms"], rows,
                               align=["l", "l", "l", "l", "l", "r"])],
                 data={"entries": [{"at": e.at.isoformat(), "chat": e.chat, "user": e.user, "command": e.command,
                                    "outcome": e.outcome, "duration_ms": e.duration_ms} for e in entries]})
