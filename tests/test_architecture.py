"""The tree's import rules (docs/architecture.md), checked on the source: every import statement,
including the ones inside functions, of every module in bot/, handlers/ and metrics/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "metrics")
# each platform SDK and the adapter package that alone may import it
SDKS = {"slack_bolt": "slack", "slack_sdk": "slack", "telegram": "telegram", "lark_oapi": "feishu",
        "dingtalk_stream": "dingtalk"}
# the wiring: the only modules of bot/ that may call handlers (they build and schedule the commands)
WIRING = ("bot.app", "bot.run", "bot.cli", "bot.delivery.scheduler")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(module: str, imported: set[str]) -> list[str]:
    """Each import that breaks a rule, as 'module -> imported: why'."""
    found = []
    for name in sorted(imported):
        why = None
        if within(module, "metrics") and within(name, "bot", "handlers"):
            why = "metrics know no chat"
        elif within(name, *SDKS) and not within(module, f"bot.adapters.{SDKS[name.split('.')[0]]}"):
            why = "a platform SDK is imported only by its own adapter"
        elif within(name, "handlers") and within(module, "bot") and not within(module, *WIRING):
            why = "only the wiring (app, run, cli, the scheduler) calls handlers"
        elif within(name, "bot.adapters") and name != "bot.adapters.base" and not within(module, "bot.adapters", *WIRING):
            why = "adapters are reached only from the wiring (their contract, bot.adapters.base, from anywhere)"
        elif within(module, "bot.adapters") and within(name, "sqlalchemy", "metrics"):
            why = "an adapter never builds SQL nor computes: it translates"
        elif within(module, "bot.state", "bot.text") and within(name, "bot.delivery", "bot.dispatch", "bot.cli"):
            why = "state and text sit below the core"
        if why:
            found.append(f"{module} -> {name}: {why}")
    return found


def source_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts)


def test_every_module_follows_the_import_rules() -> None:
    broken = []
    for path in source_modules():
        module = module_name(path)
        broken += violations(module, imports(path.read_text(encoding="utf-8"), module))
    assert not broken, "\n".join(broken)


def test_every_package_says_what_it_holds() -> None:
    bare = [str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")
            if "migrations" not in p.parts and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not bare, f"packages without a docstring: {bare}"


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("metrics.kpis", "from bot.context import Context", "metrics know no chat"),
    ("handlers.kpi", "def f():\n    import slack_sdk", "its own adapter"),
    ("bot.adapters.telegram.adapter", "import slack_bolt", "its own adapter"),
    ("bot.state.store", "from handlers.digest import build_digest", "only the wiring"),
    ("handlers.kpi", "from bot.adapters.slack.render import render", "only from the wiring"),
    ("bot.adapters.slack.adapter", "from sqlalchemy import select", "never builds SQL"),
    ("bot.adapters.telegram.render", "from metrics.kpis import CATALOG", "never builds SQL nor computes"),
    ("bot.text.messages", "from bot.dispatch import Dispatcher", "below the core"),
])
def test_the_rules_catch_a_breach(module: str, source: str, rule: str) -> None:
    found = violations(module, imports(source, module))
    assert len(found) == 1 and rule in found[0]


@pytest.mark.parametrize(("module", "source"), [
    ("bot.adapters.slack.adapter", "from slack_bolt.async_app import AsyncApp"),
    ("bot.adapters.telegram.render", "from telegram.constants import MessageLimit"),
    ("bot.delivery.scheduler", "from handlers.digest import build_digest"),
    ("bot.delivery.outbox", "from bot.adapters.base import Adapter, Sent"),
    ("handlers.kpi", "from metrics.kpis import CATALOG\nfrom bot.context import Context"),
])
def test_the_rules_allow_the_layering(module: str, source: str) -> None:
    assert violations(module, imports(source, module)) == []


def test_the_architecture_page_names_only_what_exists() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = {p.rstrip("/").split(":")[0] for p in re.findall(r"`((?:bot|handlers|metrics|tests|bench)/[\w/.:]*)`", page)}
    assert named, "the page names no paths"
    missing = sorted(p for p in named if "<" not in p and not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
