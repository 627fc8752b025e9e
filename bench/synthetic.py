"""Synthetic assets for benchmarks: a factor model fitted to the sample's 20 real stocks.

``synthetic_prices(n_assets)`` returns the 20 real adjusted closes (skfolio) plus
``n_assets - 20`` synthetic ones. Each synthetic asset's daily return is
``loadings @ factors + noise``: the factors are the first ``n_factors`` principal
components of the real stocks' returns on the same days, the loadings are drawn around the
real stocks' loadings, and the idiosyncratic noise matches the real stocks' residual
volatility. The draw is seeded, so every run uses the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skfolio.datasets import load_sp500_dataset, load_sp500_index


def real_prices() -> pd.DataFrame:
    """The sample's 20 real S&P 500 stocks, adjusted closes, 1990-2022."""
    return load_sp500_dataset()


def real_index() -> pd.Series:
    """The S&P 500 index level on the same calendar."""
    return load_sp500_index()["SP500"]


def synthetic_prices(n_assets: int, *, n_factors: int = 3, seed: int = 7) -> pd.DataFrame:
    """Real prices plus synthetic factor-model assets, shape (n_days, n_assets).

    Parameters
    ----------
    n_assets : int
        Total number of columns (at least 20 real ones are always included).
    """
    real = real_prices()
    returns = real.pct_change().iloc[1:].fillna(0.0)
    if n_assets <= real.shape[1]:
        return real.iloc[:, :n_assets]
    centred = returns - returns.mean()
    u, s, vt = np.linalg.svd(centred.to_numpy(), full_matrices=False)
    factors = u[:, :n_factors] * s[:n_factors]  # (n_days, k)
    loadings = vt[:n_factors].T  # (20, k)
    residual = centred.to_numpy() - factors @ loadings.T
    resid_vol = residual.std(axis=0)
    rng = np.random.default_rng(seed)
    n_new = n_assets - real.shape[1]
    pick = rng.integers(0, real.shape[1], size=n_new)
    new_loadings = loadings[pick] * rng.uniform(0.6, 1.4, size=(n_new, n_factors))
    drift = returns.mean().to_numpy()[pick] * rng.uniform(0.5, 1.5, size=n_new)
    noise = rng.standard_normal((len(returns), n_new)) * resid_vol[pick]
    new_returns = drift + factors @ new_loadings.T + noise
    new_prices = 50.0 * np.cumprod(1.0 + np.clip(new_returns, -0.5, 1.0), axis=0)
    columns = [f"SYN{i:03d}" for i in range(n_new)]
    synthetic = pd.DataFrame(new_prices, index=returns.index, columns=columns)
    first = pd.DataFrame(50.0, index=real.index[:1], columns=columns)
    return pd.concat([real, pd.concat([first, synthetic])], axis=1)
