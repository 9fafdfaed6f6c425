"""Chart images for replies: PNG bytes rendered with matplotlib's object API on the Agg canvas.

The modules: `style` (geometry, sizes, colours, fonts), `labels` (value formats and label text),
`canvas` (the figure, its header and layout, PNG bytes), `dates` (the date axis), and one module per
chart family: `lines`, `bars`, `waterfall`, `heatmaps`, `funnel`.

Why it is built this way:

- No pyplot. pyplot keeps process-global figure state and is not safe off the main thread;
  handlers render charts in a worker thread (``asyncio.to_thread``) so the event loop never
  blocks. Every chart builds its own ``Figure`` + ``FigureCanvasAgg`` and nothing else.
- No rcParams changes. rcParams are process-global too, so every text gets explicit font
  properties instead (titles, ticks, legends, labels, annotations).
- A fixed 1200x675 px image (8 x 4.5 in at 150 dpi): it is read on a phone inside Slack or
  Telegram, hence large type (>= 11 pt), thick lines, few ticks, no chart junk.
- Fonts: Latin text uses DejaVu Sans (bundled with matplotlib); Chinese glyphs come from an
  installed CJK family through matplotlib's per-glyph font fallback (matplotlib >= 3.6), and
  from the Noto Sans CJK SC subset shipped in metrics/charts/fonts/ when none is installed (most
  servers and fresh containers have none) or the installed one lacks a glyph. A character
  that no available font covers is replaced by a box *before* matplotlib sees it (and logged
  once), so charts never log per-glyph "missing from font" warnings.
- Values are formatted by a ``Formatter`` the handler passes in (money in the chat's locale,
  percentages...); ``metrics/`` must not import ``bot/``.
"""

# The chart functions, and (`X as X`) the limits and font names callers and tests read.
from metrics.charts.bars import bar_chart, diverging_bar_chart
from metrics.charts.canvas import EDGE_PX as EDGE_PX
from metrics.charts.funnel import MAX_FUNNEL_STEPS as MAX_FUNNEL_STEPS
from metrics.charts.funnel import funnel_chart
from metrics.charts.heatmaps import heatmap
from metrics.charts.labels import MAX_LABEL_CHARS as MAX_LABEL_CHARS
from metrics.charts.labels import Formatter
from metrics.charts.lines import MAX_LINES as MAX_LINES
from metrics.charts.lines import line_chart
from metrics.charts.style import LATIN_FAMILY as LATIN_FAMILY
from metrics.charts.style import SHIPPED_FAMILY as SHIPPED_FAMILY
from metrics.charts.style import SHIPPED_FONT as SHIPPED_FONT
from metrics.charts.style import font_in_use, has_cjk_font
from metrics.charts.waterfall import waterfall_chart

__all__ = [
    "Formatter",
    "bar_chart",
    "diverging_bar_chart",
    "font_in_use",
    "funnel_chart",
    "has_cjk_font",
    "heatmap",
    "line_chart",
    "waterfall_chart",
]
