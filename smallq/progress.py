"""A one-line progress bar for the command line, drawn on stderr.

The engine reports progress through an optional ``on_progress(done, total)`` callback
(:data:`smallq.types.ProgressCallback`); this module is the CLI's renderer of it. It is ours
rather than tqdm's or rich's: one bar, about forty lines, no new dependency, and the rules
for when to stay quiet are the CLI's own (``--json``, a stderr that is not a terminal,
``--progress never``).

The bar appears only once the work has run for ``delay_s`` (a second by default), so quick
commands print nothing extra, and it redraws at most every ``interval_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """``bar(done, total)`` redraws ``label [#####-----]  50% 125/250`` in place."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        delay_s: float = 1.0,
        interval_s: float = 0.1,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self._delay_s = delay_s
        self._interval_s = interval_s
        self._width = width
        self._clock = clock
        self._started = clock()
        self._last_draw: float | None = None
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        finished = total > 0 and done >= total
        if now - self._started < self._delay_s:
            return
        recent = self._last_draw is not None and now - self._last_draw < self._interval_s
        if recent and not finished:
            return
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        filled = round(share * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {share:4.0%} {done}/{total}")
        self._stream.flush()
        self._last_draw = now
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (only if one was drawn), so later output starts clean."""
        if self.drawn:
            self._stream.write("\n")
            self._stream.flush()
            self.drawn = False
