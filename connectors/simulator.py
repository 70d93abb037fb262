"""A deterministic synthetic market with known answers.

``simulate`` builds V venues x S symbols of top-of-book quotes around a reference mid path per symbol (a random walk,
or a real recorded venue's mids), with per-venue lag, bias, noise, spread, size, latency and sequence ids. Into it go:

* cross-exchange opportunities: for a few seconds venue B's book is lifted so that its bid sits a chosen gross edge
  above venue A's ask; some clear the net threshold after fees, some are *fee-eaten* (gross > 0, net below);
* triangular opportunities: a venue's X/Y cross rate is lifted above X/USDT / Y/USDT;
* anomalies: crossed book, zero and negative size, NaN, stale, outlier, duplicate and out-of-order updates.

Everything injected is listed in ``truth`` (opportunities, receive-clock start/end and edges) and ``anomalies`` (which
row, which reason the cleaner must give), so tests can assert recall and precision exactly. The same seed gives the
same rows, byte for byte. All of it is vectorized NumPy: 10M quotes take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from arbflow.settings import SimulatorConfig
from connectors.schema import POLARS_QUOTE_SCHEMA
from connectors.sim_inject import ANOMALY_SCHEMA, corrupt, inject_opportunities
from connectors.sim_market import quote_stream, reference_path, venue_params

DEFAULT_START = datetime(2024, 8, 9, tzinfo=UTC)


@dataclass(frozen=True)
class SimResult:
    """Quotes in receive order, plus the ground truth of what was injected."""

    quotes: pl.DataFrame
    truth: pl.DataFrame
    anomalies: pl.DataFrame

    def write(self, directory: str | Path) -> Path:
        """Write quotes.parquet, truth.parquet and anomalies.parquet; return the quotes file."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.quotes.write_parquet(out / "quotes.parquet", compression="zstd", statistics=True)
        self.truth.write_parquet(out / "truth.parquet")
        self.anomalies.write_parquet(out / "anomalies.parquet")
        return out / "quotes.parquet"


def _net_from_gross(gross_bps: float, fee_buy_bps: float, fee_sell_bps: float) -> float:
    return ((1 + gross_bps / 1e4) * (1 - fee_sell_bps / 1e4) / (1 + fee_buy_bps / 1e4) - 1) * 1e4


def _gross_from_net(net_bps: float, fee_buy_bps: float, fee_sell_bps: float) -> float:
    return ((1 + net_bps / 1e4) * (1 + fee_buy_bps / 1e4) / (1 - fee_sell_bps / 1e4) - 1) * 1e4


def simulate(
    cfg: SimulatorConfig,
    fee_bps: dict[str, float],
    min_net_edge_bps: float,
    *,
    start: datetime = DEFAULT_START,
    base: pl.DataFrame | None = None,
    cross_symbols: list[str] | None = None,
) -> SimResult:
    """Generate the market. With ``base`` (real quotes of one venue), that venue's rows stay untouched and the other
    venues and cross rates are derived from its mids (``source = "sim-derived"``)."""
    rng = np.random.default_rng(cfg.seed)
    t0_us = int(start.timestamp() * 1e6)
    base_venue = None
    duration_us = int(cfg.duration_s * 1e6)
    if base is not None:
        base_venue = base["exchange"][0]
        first = int(base["ts_recv"].dt.epoch("us").min())
        duration_us = int(base["ts_recv"].dt.epoch("us").max()) - first
        t0_us = first
    ref = reference_path(rng, cfg.symbols, duration_us, base, t0_us)
    venues = {v: venue_params(rng, v, i) for i, v in enumerate(cfg.venues)}
    real = set(base["symbol"].unique()) if base is not None else set()
    cross_symbols = [s for s in (cross_symbols or cfg.symbols) if s.endswith("/USDT")]

    # Opportunity plan: evenly spaced, non-overlapping slots; the selling venue's book is lifted.
    n_opps = cfg.cross_opportunities + cfg.fee_eaten_opportunities
    triangles = [s for s in cfg.symbols if not s.endswith("/USDT") and s in ref.mids]
    n_tri = len(triangles) and max(1, cfg.cross_opportunities // 2)
    slots = np.linspace(0.1, 0.9, n_opps + n_tri + 1)[:-1] * duration_us
    opp_len_us = int(cfg.opportunity_duration_s * 1e6)
    plan = []
    derived = [v for v in cfg.venues if v != base_venue]
    for i in range(n_opps):
        symbol = cross_symbols[i % len(cross_symbols)]
        sell = derived[i % len(derived)]
        buy = [v for v in cfg.venues if v != sell][(i // len(derived)) % (len(cfg.venues) - 1)]
        above = i < cfg.cross_opportunities
        if above:
            net = min_net_edge_bps + rng.uniform(15, 40)
            gross = _gross_from_net(net, fee_bps[buy], fee_bps[sell])
        else:  # fee-eaten: below the threshold even for the cheapest venue buying into the lifted book
            cheapest = min(fee_bps[v] for v in cfg.venues if v != sell)
            gross = max(_gross_from_net(min_net_edge_bps - rng.uniform(15, 25), cheapest, fee_bps[sell]), 2.0)
            net = _net_from_gross(gross, fee_bps[buy], fee_bps[sell])
        plan.append(("cross", symbol, buy, sell, int(slots[i]), gross, net, above))
    for j in range(n_tri):
        symbol, venue = triangles[j % len(triangles)], derived[j % len(derived)]
        gross = 3 * fee_bps[venue] + 20 + rng.uniform(20, 40)
        net = ((1 + gross / 1e4) * (1 - fee_bps[venue] / 1e4) ** 3 - 1) * 1e4
        plan.append(("triangular", symbol, venue, venue, int(slots[n_opps + j]), gross, net, True))

    streams: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for venue, params in venues.items():
        for symbol in cfg.symbols:
            if venue == base_venue and symbol in real:
                rows = base.filter(pl.col("symbol") == symbol)  # type: ignore[union-attr]
                recv = rows["ts_recv"].dt.epoch("us").to_numpy() - t0_us
                streams[(venue, symbol)] = {"ts_recv": recv, "t": recv, "ask_px": rows["ask_px"].to_numpy()}
                continue
            forced = [np.array([p[4], p[4] + opp_len_us]) for p in plan if p[3] == venue and p[1] == symbol]
            extra = np.concatenate(forced) if forced else np.empty(0, dtype=np.int64)
            rate = cfg.rate_hz * (1.0 if venue != base_venue else 2.0)
            streams[(venue, symbol)] = quote_stream(
                rng, ref, venue, params, symbol, rate, duration_us, extra.astype(np.int64)
            )
    truth = inject_opportunities(streams, ref, plan, opp_len_us, t0_us)
    marks = [
        corrupt(rng, venue, symbol, st, cfg.anomaly_rate, venues[venue].has_exchange_ts, t0_us)
        for (venue, symbol), st in streams.items()
        if "seq" in st
    ]
    synthetic = [
        pl.DataFrame(st).with_columns(pl.lit(venue).alias("venue"), pl.lit(symbol).alias("symbol"))
        for (venue, symbol), st in streams.items()
        if "seq" in st  # generated streams; real ones stay in `base`
    ]
    stamped = [venue for venue, params in venues.items() if params.has_exchange_ts]
    source = "sim-derived" if base is not None else "sim"
    quotes = _finish(pl.concat(synthetic) if synthetic else None, t0_us, source, stamped)
    if base is not None:
        real_rows = base.with_columns(pl.lit(None, dtype=pl.Int64).alias("t"), pl.lit(False).alias("_forced"))
        quotes = pl.concat([real_rows, quotes], how="diagonal_relaxed")
    quotes = quotes.sort("ts_recv", "exchange", "symbol", maintain_order=True)
    anomalies = pl.concat(marks) if marks else pl.DataFrame(schema=ANOMALY_SCHEMA)
    return SimResult(quotes.select(list(POLARS_QUOTE_SCHEMA)), truth, anomalies.sort("ts_recv", "exchange", "symbol"))


def _finish(frame: pl.DataFrame | None, t0_us: int, source: str, stamped: list[str]) -> pl.DataFrame:
    """Generated columns -> quote rows; ``ts_exchange`` only for the ``stamped`` venues (those sending a venue clock)."""
    if frame is None:
        return pl.DataFrame(schema={**POLARS_QUOTE_SCHEMA, "t": pl.Int64, "_forced": pl.Boolean})
    ts = POLARS_QUOTE_SCHEMA["ts_recv"]
    return frame.select(
        pl.col("venue").alias("exchange"),
        "symbol",
        "bid_px",
        "bid_qty",
        "ask_px",
        "ask_qty",
        pl.when(pl.col("venue").is_in(stamped)).then(pl.col("ts_exchange") + t0_us).cast(ts).alias("ts_exchange"),
        (pl.col("ts_recv") + t0_us).cast(ts).alias("ts_recv"),
        "seq",
        pl.lit(source).alias("source"),
        "t",
        "_forced",
    )


def sample_market(
    sample_dir: str | Path,
    cfg: SimulatorConfig,
    fee_bps: dict[str, float],
    min_net_edge_bps: float,
    cross_symbols: list[str],
) -> SimResult:
    """The bundled default: real Binance quotes plus OKX/HTX and the ETH/BTC markets derived from them."""
    base = pl.read_parquet(Path(sample_dir) / "binance_quotes.parquet")
    symbols = sorted(set(base["symbol"].unique()) | {"ETH/BTC"})
    derived_cfg = cfg.model_copy(update={"symbols": symbols})
    return simulate(derived_cfg, fee_bps, min_net_edge_bps, base=base, cross_symbols=cross_symbols)
