"""A phone-first bar list: each row's name on its own line, its bar and value text below.

Full names such as "Information Technology -30% (est.)" do not fit beside a bar on a
300-point-wide screen, so the name sits above the bar, left aligned, and the value text
follows the bar's end. Bars are magnitudes; colour and the value text carry the sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from smallq.charts.style import DARK, MUTED, SMALL_SIZE, TEXT_SIZE

#: share of the axes width kept free right of the longest bar for its value text
TEXT_ROOM: float = 0.45


@dataclass(frozen=True, slots=True)
class BarRow:
    """One row of a bar list.

    Attributes
    ----------
    label : str
        Name shown above the bar.
    length : float
        Bar length (a magnitude, >= 0) in the list's common unit.
    text : str
        Value text drawn after the bar's end.
    color : str
        Bar and value-text colour.
    hatch : str
        Matplotlib hatch of the bar ("" for none, "//" for estimates).
    note : str
        Muted text right-aligned on the label line (a comparison, say "S&P 500 −57%").
    """

    label: str
    length: float
    text: str
    color: str
    hatch: str = ""
    note: str = ""


def draw_bar_list(ax: Axes, rows: Sequence[BarRow], *, labels_above: bool = True) -> None:
    """Draw ``rows`` top to bottom on ``ax``.

    With ``labels_above`` each name sits on its own line above its bar (long names); without,
    names are tick labels left of the bars (tickers), which takes half the height.
    """
    longest = max((row.length for row in rows), default=0.0) or 1.0
    label_x = blended_transform_factory(ax.transAxes, ax.transData)
    bar_y = 0.2 if labels_above else 0.0
    for y, row in enumerate(rows):
        ax.barh(
            y + bar_y,
            row.length,
            height=0.42 if labels_above else 0.7,
            color=row.color,
            hatch=row.hatch,
            edgecolor="white" if row.hatch else row.color,
            linewidth=0,
        )
        if labels_above:
            ax.text(
                0.0,
                y - 0.32,
                row.label,
                transform=label_x,
                fontsize=TEXT_SIZE,
                color=DARK,
                va="center",
                ha="left",
            )
        if row.note:
            ax.text(
                1.0,
                y - 0.32,
                row.note,
                transform=label_x,
                fontsize=SMALL_SIZE,
                color=MUTED,
                va="center",
                ha="right",
            )
        ax.annotate(
            row.text,
            (row.length, y + bar_y),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=TEXT_SIZE,
            fontweight="bold",
            color=row.color,
            va="center",
        )
    ax.set_xlim(0.0, longest / (1.0 - TEXT_ROOM))
    if labels_above:
        ax.set_ylim(len(rows) - 0.35, -0.75)
        ax.set_axis_off()
        return
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [row.label for row in rows], fontsize=TEXT_SIZE)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
