"""Shared figure factory and PNG rendering for phone-readable charts."""

from __future__ import annotations

from io import BytesIO

from matplotlib.figure import Figure

#: 8 x 5 inches at 125 dpi -> 1000 x 625 px, readable on a phone
FIG_SIZE: tuple[float, float] = (8.0, 5.0)
DPI: int = 125
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


def new_figure(size: tuple[float, float] = FIG_SIZE) -> Figure:
    """A blank figure with the house style (large fonts, light grid)."""
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    fig.set_facecolor("white")
    return fig


def style_axes(ax: object) -> None:
    """Apply the house style to one Axes: large labels, light grid, no top/right spines."""
    ax.tick_params(labelsize=11)  # type: ignore[attr-defined]
    ax.grid(True, alpha=0.3)  # type: ignore[attr-defined]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]


def figure_to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
