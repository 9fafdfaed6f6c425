"""The style every chart shares: image geometry, type sizes and colours, and the fonts (an installed
CJK family or the subset shipped in metrics/charts/fonts/, and boxing what no font covers)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

log = logging.getLogger("metrics.charts")  # the package's logger, whichever module logs

# -- geometry and style -------------------------------------------------------------------------

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 150  # 1200 x 675 px, a 16:9 image chat clients show whole
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, ANNOTATION_SIZE = 16.0, 13.0, 12.0, 11.0
BAR_LABEL_SIZE = ANNOTATION_SIZE + 1
LINE_WIDTH = 2.6

# Tableau-10 order: distinct at small sizes and familiar from spreadsheets.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
OTHER_COLOR = "#9e9e9e"
BAR_COLOR = "#1f77b4"
TOTAL_COLOR = "#37474f"
UP_COLOR = "#2e7d32"
DOWN_COLOR = "#c62828"
ZERO_COLOR = "#9e9e9e"
HIGHLIGHT_COLOR = "#ffb300"
TEXT_COLOR = "#212121"
MUTED_COLOR = "#616161"
GRID_COLOR = "#e0e0e0"
NOT_AVAILABLE = "n/a"

# -- fonts --------------------------------------------------------------------------------------

LATIN_FAMILY = "DejaVu Sans"  # ships inside matplotlib, so it is always there
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
# Files the Debian/Ubuntu packages install. matplotlib's font cache may predate the package
# (the cache is built once per user), so these are registered explicitly when present.
CJK_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
# opsbot's own CJK font (OFL 1.1, see metrics/charts/fonts/README.md): Chinese renders on a fresh install.
SHIPPED_FONT = Path(__file__).resolve().with_name("fonts") / "NotoSansCJKsc-opsbot-subset.otf"
SHIPPED_FAMILY = "Noto Sans CJK SC opsbot"
# Other installed families whose names hint at CJK coverage; the glyph probe decides.
_CJK_NAME = re.compile(r"CJK|Han Sans|Han Serif|WenQuanYi|YaHei|Hei|Gothic|Mincho|Song|Kai|Ming|Fallback", re.I)
_PROBE = "销售额订单量客单价转化率暂无数据"
_BOX = "\u25a1"  # WHITE SQUARE, in DejaVu Sans: the visible stand-in for an uncoverable glyph
_INSTALL_HINT = (
    f"the packaged font {SHIPPED_FONT.name} is missing; reinstall opsbot or install a CJK font, "
    "e.g. `apt-get install fonts-wqy-zenhei` or fonts-noto-cjk"
)


class _WeightFallbackFilter(logging.Filter):
    """Drop matplotlib's 'Failed to find font weight ... for <CJK family>' warnings.

    CJK families usually ship a single weight (WenQuanYi Zen Hei is 500), so every new
    size/weight resolved through the fallback list logs a WARNING. Using the only weight a
    fallback font has is intended here, not something for an operator to fix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.families: set[str] = {*CJK_FAMILIES, SHIPPED_FAMILY}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith("findfont: Failed to find font weight")
            and isinstance(args, tuple)
            and len(args) >= 2
            and args[1] in self.families
        )


_weight_filter = _WeightFallbackFilter()
logging.getLogger("matplotlib.font_manager").addFilter(_weight_filter)


def _weight(value: object) -> int:
    """A font entry's weight as a number (font_manager stores a number or a name such as 'bold')."""
    if isinstance(value, int | float):
        return int(value)
    return font_manager.weight_dict.get(str(value), 400)


def _charmap(family: str) -> frozenset[int]:
    """Code points the installed font of ``family`` covers (empty when it is not installed)."""
    try:
        path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
        return frozenset(font_manager.get_font(path).get_charmap())
    except (ValueError, OSError, RuntimeError):
        return frozenset()


def _detect_cjk_family() -> str | None:
    """The installed (system) CJK-capable family, by preference; None when there is none."""
    manager = font_manager.fontManager
    known = {str(entry.fname) for entry in manager.ttflist}
    for path in CJK_FILES:
        if path not in known and Path(path).is_file():
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                log.debug("could not register font file %s", path, exc_info=True)
    installed = {entry.name for entry in manager.ttflist} - {SHIPPED_FAMILY}
    candidates = [name for name in CJK_FAMILIES if name in installed]
    candidates += sorted(n for n in installed if n not in candidates and _CJK_NAME.search(n))
    probe = {ord(ch) for ch in _PROBE}
    for name in candidates:
        _weight_filter.families.add(name)
        if probe <= _charmap(name):
            return name
    return None


def _register_shipped_font() -> str | None:
    """Register the packaged CJK subset with matplotlib; its family, or None when the file is gone."""
    manager = font_manager.fontManager
    if any(entry.name == SHIPPED_FAMILY for entry in manager.ttflist):
        return SHIPPED_FAMILY
    try:
        manager.addfont(SHIPPED_FONT)
    except (OSError, RuntimeError, ValueError):
        log.warning("charts: could not load the packaged CJK font %s", SHIPPED_FONT, exc_info=True)
        return None
    return SHIPPED_FAMILY


@dataclass
class _Fonts:
    """The font set charts use, and the text cleaning that goes with it."""

    cjk: str | None
    families: tuple[str, ...]
    covered: frozenset[int]
    cjk_bold: bool = False  # whether the CJK family has a bold face (WenQuanYi Zen Hei has one weight)
    _warned: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, cjk: str | None, fallback: str | None = None) -> _Fonts:
        """The set for system CJK family ``cjk`` (None: none installed) and the shipped ``fallback``."""
        # Latin first so Latin text keeps DejaVu's metrics; CJK glyphs fall back to the system
        # CJK font, then to the shipped subset (which also fills the system font's gaps).
        families = tuple(dict.fromkeys(f for f in (LATIN_FAMILY, cjk, fallback) if f))
        cjk = cjk or fallback
        covered: set[int] = set()
        for family in families:
            covered |= _charmap(family)
        bold = cjk is not None and any(
            entry.name == cjk and _weight(entry.weight) >= 600 for entry in font_manager.fontManager.ttflist
        )
        return cls(cjk=cjk, families=families, covered=frozenset(covered), cjk_bold=bold)

    def prop(self, size: float = TICK_SIZE, weight: str = "normal") -> FontProperties:
        return FontProperties(family=list(self.families), size=size, weight=weight)

    def strong(self, text: str) -> str:
        """The weight for emphasised ``text``: bold, unless its Chinese glyphs would come out regular
        next to bold Latin ones (a title half bold, half not reads as a rendering fault)."""
        wide = any(unicodedata.east_asian_width(ch) in "WF" for ch in text)
        return "bold" if not wide or self.cjk_bold else "normal"

    def clean(self, text: object) -> str:
        """``text`` made safe to draw: uncoverable glyphs boxed, '$' kept literal (no mathtext)."""
        s = str(text)
        if not s.isascii():
            missing = {ch for ch in s if ord(ch) not in self.covered and not ch.isspace()}
            if missing:
                self._warn_once(missing)
                s = "".join(_BOX if ch in missing else ch for ch in s)
        # An even number of '$' would switch matplotlib to mathtext ("$1M-$2M"); escaped
        # dollars render as plain '$'.
        return s.replace("$", r"\$")

    def _warn_once(self, missing: set[str]) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        sample = "".join(sorted(missing)[:8])
        if self.cjk is None:
            log.warning("no CJK font found; chart text %r is drawn as boxes: %s", sample, _INSTALL_HINT)
        else:
            log.warning("fonts %s lack glyphs %r; they are drawn as boxes", ", ".join(self.families), sample)


_FONTS: _Fonts | None = None
_FONTS_LOCK = threading.Lock()


def _fonts() -> _Fonts:
    """The font set, detected once per process on first use (thread-safe)."""
    global _FONTS
    fonts = _FONTS
    if fonts is None:
        with _FONTS_LOCK:
            if _FONTS is None:
                _FONTS = _Fonts.build(_detect_cjk_family(), _register_shipped_font())
                if _FONTS.cjk is None:
                    log.info("charts: no CJK font installed; %s", _INSTALL_HINT)
            fonts = _FONTS
    return fonts


def font_in_use() -> str:
    """The family Chinese chart text is drawn in: the system CJK family when one is installed,
    else the shipped subset (DejaVu Sans only when even that is missing)."""
    return _fonts().cjk or LATIN_FAMILY


def has_cjk_font() -> bool:
    """Whether Chinese labels render as real glyphs (rather than boxes)."""
    return _fonts().cjk is not None
