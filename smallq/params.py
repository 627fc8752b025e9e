"""Engine constants in one frozen params object.

Nothing here reads the environment: entry points build an :class:`EngineParams`
(usually ``DEFAULT_PARAMS`` with ``dataclasses.replace``) and pass it down.
"""

from __future__ import annotations

from dataclasses import dataclass

from smallq.types import CovModel, Objective, ReturnsModel


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Constants every engine stage shares.

    All rates are fractions (0.02 is 2%).
    """

    periods_per_year: int = 252
    risk_free_rate: float = 0.02
    #: fewest daily prices a ticker needs to be kept (after validation)
    min_history_days: int = 252
    #: momentum 12-1: close(t - skip) / close(t - lookback) - 1
    momentum_lookback_days: int = 252
    momentum_skip_days: int = 21
    low_vol_window_days: int = 252
    #: factor scores are clipped to these cross-sectional quantiles before z-scoring
    winsor_lower: float = 0.05
    winsor_upper: float = 0.95
    #: a close at least (1 + this) times both neighbouring closes, or both neighbours at least
    #: (1 + this) times it, with the neighbours within half of this of each other, is a bad
    #: print (a one-day round trip); a decision-day move of this size leaves the ticker out
    spike_threshold: float = 0.20
    #: a round trip whose first leg goes the same way as a benchmark move of at least this
    #: (a fraction) on the same day is a market-wide crash or rally, not a bad print
    crash_day_market_move: float = 0.04
    #: EMA span (days) for exponentially weighted returns and covariance
    ema_span_days: int = 180
    default_returns_model: ReturnsModel = ReturnsModel.MEAN
    default_cov_model: CovModel = CovModel.LEDOIT_WOLF
    #: fallback chain used when the requested objective cannot be reached
    fallback_chain: tuple[Objective, ...] = (
        Objective.MAX_SHARPE,
        Objective.MIN_VOLATILITY,
        Objective.HRP,
        Objective.EQUAL_WEIGHT,
    )
    #: weights below this are set to zero and the rest renormalised
    weight_cutoff: float = 1e-4
    mc_paths: int = 10_000
    mc_horizon_days: int = 252
    mc_student_t_dof: float = 5.0
    #: losses x with P(1-year return < -x) in each Monte Carlo result (the dashboard's slider
    #: asks for a finer grid)
    mc_loss_levels: tuple[float, ...] = (0.0, 0.10, 0.20, 0.30)
    seed: int = 20_240_601
    #: the most capital accepted (guards against typos such as a 400-digit number)
    max_capital: float = 1e12
    #: frontier points drawn on the chart
    frontier_points: int = 40
    #: place risk levels with the daqp fast path (smallq.backtest.fast.efficient_risk_qp, equal
    #: to PyPortfolioOpt to 1e-5, objective never worse: tests/smallq/test_levels.py) on every
    #: path users run (build, backtest, record, level table); False solves the chosen target with
    #: PyPortfolioOpt (the reference, for tests and benchmarks)
    fast_placement: bool = True
    #: fee on each purchase (basis points of its value) that a build's shares leave room for,
    #: so they can be bought exactly as shown (smallq.allocation.allocate_shares); the bot sets
    #: its paper-trading costs (SMALLQ_PAPER_COSTS_BPS), 0 sizes the shares on the whole capital
    purchase_costs_bps: float = 0.0


DEFAULT_PARAMS = EngineParams()
