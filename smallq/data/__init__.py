"""Market data: the PriceSource port and its adapters (sample, csv, yahoo).

``smallq.data.yahoo`` is the only module that imports yfinance.
"""
