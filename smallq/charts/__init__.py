"""Charts: matplotlib ``Figure`` objects rendered to PNG bytes (never pyplot).

``report`` draws a portfolio report's charts (with ``frontier`` and ``stress``); ``backtest``
draws backtest and tracking charts; ``style`` holds the sizes, colours and money formatter;
``layout`` places the bot's result charts without a layout engine.
Every chart is portrait 3:4 (900 x 1200 px) and readable in a 300-point-wide Telegram
photo bubble: no text under 8 points there (see ``tests/smallq/charts/test_phone.py``).
"""
