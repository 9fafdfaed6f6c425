"""`help`: every command, or one command's usage and examples."""

from __future__ import annotations

from bot.context import Args, Context
from bot.reply import Reply, Table
from bot.router import Router
from bot.text.messages import MESSAGES, dimension_label
from handlers.common import did_you_mean, metric_choices
from metrics.errors import InputError
from metrics.kpis import CATALOG

router = Router()


@router.command("help", aliases=("帮助", "?", "start"), usage="help [command]", examples=("help", "help kpi"))
async def help_(ctx: Context, args: Args) -> Reply:
    if args.tokens:
        return _one(ctx, args.tokens[0].lstrip("/").lower())
    rows = []
    for command in ctx.commands:
        summary = ctx.t(command.summary_key) if command.summary_key in MESSAGES else ""
        rows.append([command.name, summary])
    return Reply(
        title=ctx.t("help_title"),
        text=[ctx.t("help_intro")],
        tables=[Table(columns=["", ""], rows=rows, align=["l", "l"])],
        footer=ctx.t("help_periods"),
        data={"commands": [c.name for c in ctx.commands]},
    )


def _one(ctx: Context, word: str) -> Reply:
    command = next((c for c in ctx.commands if word in c.words), None)
    if command is None:
        words = [w for c in ctx.commands for w in c.words]
        raise InputError("unknown_command", name=word[:50], suggestion=did_you_mean(word, words, ctx.lang))
    text = []
    if command.summary_key in MESSAGES:
        text.append(ctx.t(command.summary_key))
    text.append(ctx.t("usage_line", usage=command.usage))
    if command.examples:
        text.append(ctx.t("help_examples") + "\n" + "\n".join(f"  {e}" for e in command.examples))
    if command.aliases:
        text.append(ctx.t("help_aliases", aliases=", ".join(command.aliases)))
    if command.admin:
        text.append(ctx.t("help_admin"))
    if command.name == "kpi":
        metrics = [ctx.t("help_name_zh", name=name, zh=CATALOG[name].zh) for name in metric_choices()]
        text.append(ctx.t("help_metrics", metrics=("、" if ctx.lang == "zh" else ", ").join(metrics)))
        dims = [ctx.t("help_name_zh", name=d, zh=dimension_label(d, ctx.lang)) if dimension_label(d, ctx.lang) != d
                else d for d in ctx.warehouse.dimensions]
        text.append(ctx.t("help_dimensions", dimensions=("、" if ctx.lang == "zh" else ", ").join(dims)))
        text.append(ctx.t("help_periods"))
    return Reply(
        title=ctx.t("help_command_title", command=command.name),
        text=text,
        data={"command": command.name, "usage": command.usage, "examples": list(command.examples)},
    )
