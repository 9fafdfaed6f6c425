"""The SKU catalogue: names and categories (from `products`, or the SKUs the order lines know),
and finding a SKU from what a person types: its code, a part of its name, or a typo of either."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import select

from metrics.data.warehouse import Warehouse
from metrics.products.source import columns, has

MAX_MATCHES = 3
FUZZY_CUTOFF = 70  # rapidfuzz WRatio, 0..100: below this a name is not a plausible typo


@dataclass(frozen=True)
class Product:
    sku: str
    name: str  # the SKU itself where no name is recorded
    category: str | None


def catalogue(w: Warehouse) -> dict[str, Product]:
    """Every SKU by its code; kept while the data is unchanged (a 100k catalogue is read once)."""
    return w.remember(("product_catalogue",), lambda: _read(w))


def _read(w: Warehouse) -> dict[str, Product]:
    out: dict[str, Product] = {}
    if has(w, "products"):
        have = columns(w, "products")
        p = w.tables["products"]
        cols = [p.c.sku] + [p.c[c] for c in ("name", "category") if c in have]
        with w.connect() as conn:
            for row in conn.execute(select(*cols)).mappings():
                sku = str(row["sku"])
                out[sku] = Product(sku, str(row.get("name") or sku), row.get("category"))
    if has(w, "order_lines"):
        lines = w.tables["order_lines"]
        with w.connect() as conn:
            for (sku,) in conn.execute(select(lines.c.sku).distinct()):
                out.setdefault(str(sku), Product(str(sku), str(sku), None))
    return out


def name_of(w: Warehouse, sku: str) -> str:
    product = catalogue(w).get(sku)
    return product.name if product is not None else sku


def find(w: Warehouse, text: str) -> list[Product]:
    """The SKUs `text` names: its exact code (any case), else the names containing it, else the
    closest codes and names (typos); at most MAX_MATCHES, best first."""
    wanted = text.strip()
    products = catalogue(w)
    if not wanted:
        return []
    exact = [p for sku, p in products.items() if sku.lower() == wanted.lower()]
    if exact:
        return exact
    low = wanted.lower()
    containing = [p for p in products.values() if low in p.name.lower() or low in p.sku.lower()]
    if containing:
        return sorted(containing, key=lambda p: (len(p.name), p.sku))[:MAX_MATCHES]
    choices = {f"{p.sku} {p.name}": p for p in products.values()}
    found = process.extract(wanted, list(choices), scorer=fuzz.WRatio, limit=MAX_MATCHES, score_cutoff=FUZZY_CUTOFF)
    return [choices[match] for match, _, _ in found]
