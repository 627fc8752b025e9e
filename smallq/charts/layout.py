"""A fixed layout for the phone charts the bot sends with every build: no layout engine.

Matplotlib's constrained layout measures every text of a figure (each tick label, title and
legend entry) twice before drawing, and once more for every ``savefig``: for the three result
charts that was a third of their CPU time. Here the figure size and the fonts are fixed
(:mod:`smallq.charts.style`), so the margins follow from a few measured texts: the heading
and the legend are placed and measured once, tick labels are measured as strings, and the
Axes get the rest of the picture. Nothing is drawn until the PNG is rendered.

:class:`Layout` fills a figure from its edges inward, in points (1/72 inch)::

    layout = Layout(fig)
    layout.heading("Where the risk comes from", "AAPL: 25% of the money, ...")
    layout.legend(ncols=2)                   # centred at the bottom, measured
    layout.place(ax, left=layout.tick_width(labels, SMALL_SIZE))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.text import Text

from smallq.charts.style import DPI, FIG_SIZE, MUTED, SMALL_SIZE, TEXT_SIZE, TITLE_SIZE

#: free space at each edge of the picture, in points
EDGE_PT: float = 6.0
#: space between the heading, the plot and the legend, in points
GAP_PT: float = 10.0
#: space between a title and its subtitle, in points
SUBTITLE_GAP_PT: float = 5.0
#: where the heading starts, as a share of the figure's width (as ``style.headline``)
TITLE_X: float = 0.03
#: matplotlib's default tick length and tick-label pad, and an axis label's pad, in points
TICK_PT, TICK_PAD_PT, LABEL_PAD_PT = 3.5, 3.5, 4.0
#: space between an Axes and its title, in points (matplotlib's default)
TITLE_PAD_PT: float = 6.0


def fixed_figure(size: tuple[float, float] = FIG_SIZE) -> Figure:
    """A blank portrait figure with the house style and no layout engine (see :class:`Layout`)."""
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)  # an Agg canvas (not pyplot): its renderer measures text
    fig.set_facecolor("white")
    return fig


class Layout:
    """The free area of a figure, filled from its top and bottom edges inward (in points).

    Parameters
    ----------
    fig : Figure
        A figure without a layout engine (:func:`fixed_figure`).

    Attributes
    ----------
    top, bottom : float
        Points used so far from the top and the bottom edge.
    """

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        canvas = fig.canvas
        assert isinstance(canvas, FigureCanvasAgg), "Layout needs an Agg canvas (fixed_figure)"
        # the same renderer savefig draws with (cached per size and dpi)
        self.renderer: RendererBase = canvas.get_renderer()  # type: ignore[no-untyped-call]
        width_in, height_in = fig.get_size_inches()
        self.width, self.height = float(width_in) * 72.0, float(height_in) * 72.0
        self.top = self.bottom = EDGE_PT

    # ------------------------------------------------------------------ measuring
    def extent(self, artist: Text | Legend) -> tuple[float, float]:
        """Width and height of a placed text or legend, in points."""
        box = artist.get_window_extent(self.renderer)
        scale = 72.0 / self.fig.dpi
        return box.width * scale, box.height * scale

    def text_size(self, text: str, size: float, *, weight: str = "normal") -> tuple[float, float]:
        """Width and height of one line of text, in points (no artist is made)."""
        prop = FontProperties(size=size, weight=weight)
        width, height, _ = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
        scale = 72.0 / self.fig.dpi
        return width * scale, height * scale

    def tick_width(self, labels: Iterable[str], size: float = SMALL_SIZE) -> float:
        """Room left of an Axes for its y tick labels: the widest label, the tick and pad."""
        widest = max((self.text_size(label, size)[0] for label in labels), default=0.0)
        return widest + TICK_PT + TICK_PAD_PT

    def tick_height(self, size: float = SMALL_SIZE) -> float:
        """Room below an Axes for its x tick labels."""
        return self.text_size("0%", size)[1] + TICK_PT + TICK_PAD_PT

    def label_room(self, size: float = TEXT_SIZE) -> float:
        """Room for an axis label (``set_xlabel``, or a rotated ``set_ylabel``)."""
        return self.text_size("Xy", size)[1] + LABEL_PAD_PT

    # ------------------------------------------------------------------ filling
    def heading(self, title: str, subtitle: str = "") -> None:
        """A bold title and a muted subtitle, left aligned at the top (as ``style.headline``)."""
        heading = self._top_text(title, fontsize=TITLE_SIZE, fontweight="bold")
        self.top += self.extent(heading)[1]
        if subtitle:
            self.top += SUBTITLE_GAP_PT
            sub = self._top_text(subtitle, fontsize=TEXT_SIZE, color=MUTED)
            self.top += self.extent(sub)[1]
        self.top += GAP_PT

    def section_title(self, ax: Axes, title: str, *, size: float = TITLE_SIZE - 2) -> float:
        """A bold title over ``ax``, left aligned at the Axes' edge; return its height in points."""
        # a given ``y`` keeps matplotlib from measuring the axis to move the title up
        ax.set_title(title, loc="left", fontsize=size, fontweight="bold", y=1.0, pad=TITLE_PAD_PT)
        return self.text_size(title, size, weight="bold")[1] + TITLE_PAD_PT

    def legend(self, **kwargs: object) -> Legend:
        """The figure's legend, centred at the bottom without a frame; its height is used."""
        legend = self.fig.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, self.bottom / self.height),
            borderaxespad=0.0,
            frameon=False,
            **kwargs,
        )
        self.bottom += self.extent(legend)[1] + GAP_PT
        return legend

    def place(
        self,
        ax: Axes,
        *,
        left: float = 0.0,
        right: float = 0.0,
        top: float = 0.0,
        bottom: float = 0.0,
    ) -> None:
        """Give ``ax`` the free area, keeping ``left``... points inside it for its labels."""
        self.place_rows([ax], [1.0], left=left, right=right, tops=[top], bottom=bottom)

    def place_rows(
        self,
        axes: Sequence[Axes],
        ratios: Sequence[float],
        *,
        left: float = 0.0,
        right: float = 0.0,
        tops: Sequence[float] = (),
        bottom: float = 0.0,
    ) -> None:
        """Stack ``axes`` top down in the free area, their heights in ``ratios``.

        ``tops`` keeps room above each Axes (its title); ``bottom`` below the last one.
        """
        room = list(tops) + [0.0] * (len(axes) - len(tops))
        x0 = EDGE_PT + left
        width = self.width - x0 - EDGE_PT - right
        free = self.height - self.top - self.bottom - sum(room) - bottom
        y = self.height - self.top  # top edge of the next row, from the bottom
        for ax, ratio, above in zip(axes, ratios, room, strict=True):
            height = free * ratio / sum(ratios)
            y -= above + height
            ax.set_position(
                (x0 / self.width, y / self.height, width / self.width, height / self.height)
            )

    def _top_text(self, text: str, **style: object) -> Text:
        return self.fig.text(
            TITLE_X,
            1.0 - self.top / self.height,
            text,
            ha="left",
            va="top",
            **style,  # type: ignore[arg-type]
        )


def tick_labels(axis: Axis) -> list[str]:
    """The major tick labels ``axis`` will draw within its current view, as text."""
    low, high = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
    return list(axis.get_major_formatter().format_ticks(ticks))
