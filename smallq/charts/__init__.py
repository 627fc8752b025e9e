"""Charts: matplotlib ``Figure`` objects rendered to PNG bytes (never pyplot).

``report`` draws a portfolio report's charts; ``backtest`` draws backtest charts.
Every chart is sized for a phone screen (about 1000 px wide, large fonts).
"""
