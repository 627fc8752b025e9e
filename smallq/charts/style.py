"""House style of every chart: phone-first sizes, fonts, colours and the money formatter.

A Telegram photo bubble is about :data:`BUBBLE_WIDTH_PT` (300) points wide on a phone. A
figure :data:`FIG_WIDTH_IN` inches wide is shrunk to that width, so a font of ``f`` points
shows as ``f * 300 / (FIG_WIDTH_IN * 72)`` points (:func:`display_points`). Every size below
keeps the smallest text at :data:`MIN_DISPLAY_PT` (8 points) or more in the bubble; the
chart tests check it on every rendered chart.
"""

from __future__ import annotations

import math
from io import BytesIO

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PIL import Image  # matplotlib's own PNG writer (a dependency of matplotlib)

from smallq.presentation.formatting import money as shared_money
from smallq.presentation.formatting import pct, signed_pct

#: width of a photo in a Telegram chat bubble on a phone, in points
BUBBLE_WIDTH_PT: float = 300.0
#: the smallest readable text in that bubble, in points
MIN_DISPLAY_PT: float = 8.0
#: portrait 3:4; 4.5 x 6 inches at 200 dpi -> 900 x 1200 px (Telegram keeps up to 1280 px)
FIG_WIDTH_IN: float = 4.5
FIG_SIZE: tuple[float, float] = (FIG_WIDTH_IN, 6.0)
DPI: int = 200
#: colours of a chart's PNG palette (see :func:`figure_to_png`)
PNG_COLORS: int = 256
#: font sizes in figure points; at 4.5 inches wide each shows at 0.93x in the bubble
TITLE_SIZE: float = 15.0
TEXT_SIZE: float = 11.0
SMALL_SIZE: float = 10.0
DARK, MUTED, GRID = "#111827", "#4b5563", "#d1d5db"
LOSS, GAIN = "#dc2626", "#16a34a"
PALETTE: tuple[str, ...] = (
    "#2563eb",
    "#16a34a",
    "#f59e0b",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#ea580c",
    "#4b5563",
    "#0d9488",
    "#9333ea",
)
MINUS: str = "\u2212"
#: a dollar sign matplotlib draws as text, never as the start of mathtext
DOLLAR: str = "\\$"


def display_points(font_pt: float, fig_width_in: float) -> float:
    """Size in points at which text of ``font_pt`` shows in a 300-point-wide photo bubble."""
    return font_pt * BUBBLE_WIDTH_PT / (fig_width_in * 72.0)


def new_figure(size: tuple[float, float] = FIG_SIZE) -> Figure:
    """A blank portrait figure with the house style (constrained layout, white)."""
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # an Agg canvas (not pyplot) so that text can be measured
    fig.set_facecolor("white")
    return fig


def style_axes(ax: Axes) -> None:
    """Apply the house style to one Axes: large tick labels, light grid, two spines."""
    ax.tick_params(labelsize=SMALL_SIZE)
    ax.grid(True, color=GRID, alpha=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def headline(fig: Figure, ax: Axes, title: str, subtitle: str = "") -> None:
    """A bold figure title, left aligned, and a muted subtitle over the first Axes."""
    fig.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold", x=0.03, ha="left")
    if subtitle:
        ax.set_title(subtitle, loc="left", fontsize=TEXT_SIZE, color=MUTED)


def figure_to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes, in at most :data:`PNG_COLORS` colours.

    The charts are flat colours and anti-aliased edges: a palette of 256 colours changes
    no pixel by more than 6% and makes the file a third of a full-colour PNG's size, at
    the same CPU cost as compressing the full-colour picture faster (measured on the
    three result charts: 82 KiB against 252 KiB). Drawn by Agg at the figure's dpi.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    pixels = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), pixels, "raw")
    image = rgba.convert("RGB").quantize(PNG_COLORS, method=Image.Quantize.FASTOCTREE)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- numbers as text
def money(
    value: float, *, signed: bool = False, significant: int | None = None, currency: str = "USD"
) -> str:
    """Whole dollars for a chart: ``$10,000``, ``−$5,280``, ``+$1,204``, ``$61,700``.

    The shared :func:`smallq.presentation.formatting.money` writes the amount (symbol,
    separators, other currencies); this rounds it to whole units first, uses a true minus
    sign and escapes the dollar sign (:data:`DOLLAR`) so that matplotlib never reads two
    amounts in one label as mathtext.

    Parameters
    ----------
    value : float
        Amount in ``currency``.
    signed : bool, default=False
        Show ``+`` before gains (losses always get a minus sign).
    significant : int, optional
        Round to this many significant figures (``$61,700`` rather than ``$61,734``);
        whole units when omitted.
    currency : str, default="USD"
        ISO code, as in the profile.
    """
    amount = float(round(abs(value)))
    if significant is not None and amount >= 10**significant:
        step = 10 ** (math.floor(math.log10(amount)) - significant + 1)
        amount = float(round(amount / step) * step)
    text = shared_money(amount, currency).replace(".00", "", 1).replace("$", DOLLAR)
    if amount == 0:
        return text
    if value < 0:
        return MINUS + text
    return ("+" + text) if signed else text


def compact_money(value: float) -> str:
    """Short dollars for axis ticks: ``$950``, ``$12k``, ``$12.5k``, ``$1.2M``."""
    amount = abs(value)
    sign = MINUS if value < 0 else ""
    if amount >= 1e6:
        return f"{sign}{DOLLAR}{amount / 1e6:.3g}M"
    if amount >= 1e3:
        return f"{sign}{DOLLAR}{amount / 1e3:.3g}k"
    return f"{sign}{DOLLAR}{amount:.0f}"


def percent(value: float, *, decimals: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage with a true minus sign: ``−52.8%``, ``+5.0%``, ``0%``.

    Written by the shared :func:`~smallq.presentation.formatting.pct` and ``signed_pct``.
    """
    text = (signed_pct if signed else pct)(value, decimals).replace("-", MINUS)
    if float(text.strip("+%").replace(MINUS, "-")) == 0.0:
        return text.lstrip("+" + MINUS)
    return text


def money_axis() -> FuncFormatter:
    """A fresh tick formatter of compact dollars (formatters keep a reference to their axis)."""
    return FuncFormatter(lambda v, _: compact_money(float(v)))


def percent_axis(ax_axis: Axis, *, signed: bool = False) -> None:
    """Percent ticks on one axis of fractions, at round steps (1, 2, 5 or 10 percent...)."""
    ax_axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax_axis.set_major_formatter(
        FuncFormatter(lambda v, _: percent(float(v), decimals=0, signed=signed))
    )
