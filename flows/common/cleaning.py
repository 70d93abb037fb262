"""QingXi, the cleaning module: which typed quotes are fit to trade on, and why the others are not.

Two kinds of check, both vectorized over a micro-batch:

* row checks (``check_rows``) need nothing but the row: NaN, non-positive price or size, crossed or locked book,
  unknown symbol or venue, stale (the venue stamped it more than ``max_latency_ms`` before we received it);
* stream checks (``clean_stream``) need the venue's recent history, carried as state per symbol: duplicate and
  out-of-order updates (by venue sequence id, or venue time when there is none) and price outliers against the rolling
  median of the venue's own previous ``outlier_window - 1`` mids.

Every row leaves as clean or rejected with exactly one reason (the first failing check, in the order listed). The
stream state depends only on the rows, never on how they were cut into batches, so any batching gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from arbflow.settings import CleaningConfig
from connectors.schema import event_time

TAIL_COLUMNS = ("exchange", "seq", "ts_event", "bid_px", "bid_qty", "ask_px", "ask_qty", "mid")


def _text(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate literal strings and expressions (``pl.format`` panics on filtered frames in polars 2.1)."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p.cast(pl.String) for p in parts]).fill_null("null")


def _first_failure(checks: list[tuple[pl.Expr, str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """(reason, detail) expressions naming the first check that fails for each row."""
    reason: pl.Expr | pl.When | pl.Then = pl
    detail: pl.Expr | pl.When | pl.Then = pl
    for cond, name, text in checks:
        reason = reason.when(cond).then(pl.lit(name))  # type: ignore[union-attr]
        detail = detail.when(cond).then(text)  # type: ignore[union-attr]
    return reason.otherwise(None), detail.otherwise(None)  # type: ignore[union-attr]


def _split(frame: pl.DataFrame, checks: list[tuple[pl.Expr, str, pl.Expr]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows passing every check, failing rows + reason/detail).

    Conditions are evaluated on the whole frame (they may look at neighbouring rows); the texts only for failing rows.
    """
    names = [f"_check{i}" for i in range(len(checks))]
    flagged = frame.with_columns([cond.fill_null(False).alias(n) for n, (cond, _, _) in zip(names, checks)])
    mask = flagged.select(pl.any_horizontal(names)).to_series()
    if not mask.any():  # the common case (a live batch of a few rows): no reason query, its empty result per schema
        key = (tuple(frame.schema.items()), tuple(name for _, name, _ in checks))
        if key not in _NO_REJECTS:
            _NO_REJECTS[key] = _rejects(flagged.clear(), names, checks)
        return flagged.drop(names), _NO_REJECTS[key]
    return flagged.filter(~mask).drop(names), _rejects(flagged.filter(mask), names, checks)


_NO_REJECTS: dict[tuple[object, ...], pl.DataFrame] = {}


def _rejects(failed: pl.DataFrame, names: list[str], checks: list[tuple[pl.Expr, str, pl.Expr]]) -> pl.DataFrame:
    reason, detail = _first_failure([(pl.col(n), name, text) for n, (_, name, text) in zip(names, checks)])
    return failed.with_columns(reason.alias("reason"), detail.alias("detail")).drop(names)


def check_rows(quotes: pl.DataFrame, cfg: CleaningConfig, venues: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Row checks. Returns (passing rows, rejected rows with ``reason``/``detail``), both with ``ts_event``."""
    px = ("bid_px", "ask_px")
    qty = ("bid_qty", "ask_qty")
    latency_ms = (pl.col("ts_recv") - pl.col("ts_exchange")).dt.total_microseconds() / 1000
    checks = [
        (
            pl.any_horizontal([pl.col(c).is_nan() for c in px]),
            "nan_price",
            _text("bid_px=", pl.col("bid_px"), " ask_px=", pl.col("ask_px")),
        ),
        (
            pl.any_horizontal([pl.col(c).is_nan() for c in qty]),
            "nan_size",
            _text("bid_qty=", pl.col("bid_qty"), " ask_qty=", pl.col("ask_qty")),
        ),
        (
            pl.any_horizontal([pl.col(c) <= 0 for c in px]),
            "non_positive_price",
            _text("bid_px=", pl.col("bid_px"), " ask_px=", pl.col("ask_px")),
        ),
        (
            pl.any_horizontal([pl.col(c) <= 0 for c in qty]),
            "non_positive_size",
            _text("bid_qty=", pl.col("bid_qty"), " ask_qty=", pl.col("ask_qty")),
        ),
        (pl.any_horizontal([pl.col(c).is_infinite() for c in (*px, *qty)]), "infinite_value", pl.lit("inf")),
        (
            pl.col("bid_px") >= pl.col("ask_px"),
            "crossed_book",
            _text("bid_px=", pl.col("bid_px"), " >= ask_px=", pl.col("ask_px")),
        ),
        (~pl.col("exchange").is_in(sorted(venues)), "unknown_exchange", pl.col("exchange")),
        (~pl.col("symbol").is_in(cfg.symbols), "unknown_symbol", pl.col("symbol")),
        (latency_ms > cfg.max_latency_ms, "stale", _text("ts_recv - ts_exchange = ", latency_ms.round(3), " ms")),
    ]
    return _split(quotes.with_columns(event_time()), checks)


@dataclass(frozen=True)
class StreamState:
    """Per symbol: the last ``outlier_window - 1`` in-order rows of each venue (TAIL_COLUMNS)."""

    tail: pl.DataFrame

    @staticmethod
    def empty(schema: dict[str, pl.DataType]) -> StreamState:
        return StreamState(pl.DataFrame(schema={c: schema[c] for c in TAIL_COLUMNS}))


# Stream verdicts per history row, in check order; 0 = passes.
_OUT_OF_ORDER, _DUPLICATE, _OUTLIER = 1, 2, 3
_REASONS = np.array(["", "out_of_order", "duplicate", "price_outlier"])
_MIN_REFERENCE_MIDS = 3  # fewer previous mids: no rolling median, no outlier check


def _venue_rows(exchange: pl.Series, known: list[str | None]) -> list[np.ndarray]:
    """Row numbers of each venue, ascending (null is a venue of its own, as in a group-by). ``known``: the venues of
    the state, usually all of them, which spares a ``unique`` over the rows' strings."""

    def rows_of(venue: str | None) -> np.ndarray:
        hit = exchange.is_null() if venue is None else exchange == venue
        return (hit.fill_null(False) if exchange.has_nulls() else hit).to_numpy()

    masks = [rows_of(venue) for venue in known]
    seen = np.logical_or.reduce(masks) if masks else np.zeros(len(exchange), dtype=bool)
    if not seen.all():
        masks += [rows_of(venue) for venue in exchange.filter(pl.Series(~seen)).unique(maintain_order=True)]
    return [np.flatnonzero(mask) for mask in masks if mask.any()]


@dataclass(frozen=True)
class _Order:
    """One venue's rows (history row numbers, processing order) against the highest order key before each."""

    rows: np.ndarray
    highest: np.ndarray  # highest key up to and including each row
    late: np.ndarray  # positions in ``rows`` below the highest earlier key: out of order
    tied: np.ndarray  # positions at it: duplicates if they carry an update id or repeat the latest in-order book
    latest: np.ndarray  # per tie, the position of the venue's latest in-order row before it


def _order(rows: np.ndarray, key: np.ndarray, valid: np.ndarray, has_seq: np.ndarray, first: int) -> _Order:
    """Order keys of one venue against its earlier rows, as Polars' ``key.cum_max().shift(1)`` sees them (a row after
    a null key has no prior). Rows before ``first`` (the state's tail) were judged in an earlier call: history only.

    A tie is compared with the latest in-order row, never with a late row or an id-carrying duplicate: those never
    enter the state's tail, so a batch boundary between them and the tie must not change its verdict.
    """
    k, ok = key[rows], valid[rows]
    highest = np.maximum.accumulate(np.where(ok, k, np.iinfo(np.int64).min))
    comparable = ok[1:] & ok[:-1]
    late = np.flatnonzero(comparable & (k[1:] < highest[:-1])) + 1
    tied = np.flatnonzero(comparable & (k[1:] == highest[:-1])) + 1
    late, tied = late[rows[late] >= first], tied[rows[tied] >= first]
    latest, by_id = tied - 1, has_seq[rows[tied]]
    if not by_id.all() and (late.size or by_id.any()):  # a tie judged by its book, and rows that are no reference
        kept = np.ones(len(rows), dtype=bool)
        kept[late], kept[tied[by_id]] = False, False
        latest = np.maximum.accumulate(np.where(kept, np.arange(len(rows)), 0))[tied - 1]
    return _Order(rows, highest, late, tied, latest)


def _same_book(hist: pl.DataFrame, now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Whether history rows ``now`` repeat the book of rows ``before`` exactly (Polars equality: NaN equals NaN)."""
    book = TAIL_COLUMNS[3:7]
    same = pl.all_horizontal([hist[c].gather(now) == hist[c].gather(before) for c in book])
    return pl.select(same.fill_null(False)).to_series().to_numpy()


def _outliers(mid: pl.Series, window: int, outlier_bps: float) -> tuple[np.ndarray, np.ndarray]:
    """Outliers among one venue's in-order mids: (their positions, their reference medians).

    A row is an outlier when ``|mid / ref - 1| * 1e4 > outlier_bps``, ``ref`` being the median of the ``window``
    mids before it (at least 3). Computing every median would be most of the cost of the stream checks, and almost
    every row is far inside the band. With blocks of at least ``window`` rows, a row's mid and its whole window lie in
    its block and the one before, hence so does its median, and the deviation (each step correctly rounded, hence
    monotone) is at most the spread of those two blocks. Blocks inside the band are settled; the rows of the others
    get their exact median, by the same Polars call on their window rows.
    """
    n, first = len(mid), _MIN_REFERENCE_MIDS
    values = mid.to_numpy()
    if mid.has_nulls() or not np.all((values > 0) & (values < 1e300)):  # NaN, inf, <= 0: Polars semantics throughout
        reference = pl.col("mid").rolling_median(window_size=window, min_samples=first).shift(1).alias("_ref")
        checked = mid.to_frame("mid").select(
            reference, (_deviation_bps(reference) > outlier_bps).fill_null(False).alias("_outlier")
        )
        rows = np.flatnonzero(checked["_outlier"].to_numpy())
        return rows, checked["_ref"].to_numpy()[rows]
    block = max(window, 32)
    starts = np.arange(0, n, block)
    low, high = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
    low, high = np.minimum(low, np.r_[low[:1], low[:-1]]), np.maximum(high, np.r_[high[:1], high[:-1]])
    spread_bps = np.maximum(high / low - 1, 1 - low / high) * 1e4
    unsettled = np.flatnonzero(spread_bps >= outlier_bps * (1 - 1e-9))  # margin: nothing rounding could flip
    rows = (unsettled[:, None] * block + np.arange(block)).ravel()
    rows = rows[(rows >= first) & (rows < n)]
    if rows.size == 0:
        return rows, np.empty(0)
    # Runs of rows, each after the window of its first row; concatenated, every row of a run sees its own window.
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > window) + 1)
    pieces = [np.arange(max(0, int(run[0]) - window), int(run[-1]) + 1) for run in runs]
    ends = np.cumsum([len(piece) for piece in pieces])
    at = np.concatenate([end - 1 - (run[-1] - run) for run, end in zip(runs, ends)])
    medians = pl.Series(values[np.concatenate(pieces)]).rolling_median(window_size=window, min_samples=first)
    reference = medians.to_numpy()[at - 1]  # the median up to the row before
    outlier = np.abs(values[rows] / reference - 1) * 1e4 > outlier_bps
    return rows[outlier], reference[outlier]


def _deviation_bps(reference: pl.Expr) -> pl.Expr:
    return (pl.col("mid") / reference - 1).abs() * 1e4


def _disorder(hist: pl.DataFrame, venues: list[np.ndarray], first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-order and duplicate verdicts of the history rows from ``first`` on; returns (verdict, order key, prior
    key) per row.

    The order key is the venue's update id when it sends one, else its clock. A row below the highest key of its
    venue's earlier rows is out of order; at it, a duplicate if it carries an update id or repeats the book of the
    venue's latest in-order row exactly.
    """
    seq = hist["seq"]
    key_series = seq.fill_null(hist["ts_event"].dt.epoch("us")) if seq.has_nulls() else seq
    valid = key_series.is_not_null().to_numpy() if key_series.has_nulls() else np.ones(hist.height, dtype=bool)
    key = (key_series.fill_null(0) if key_series.has_nulls() else key_series).to_numpy()
    row_has_seq = seq.is_not_null().to_numpy() if seq.has_nulls() else np.ones(hist.height, dtype=bool)
    verdict, prior = np.zeros(hist.height, dtype=np.int8), np.zeros_like(key)
    orders = [_order(rows, key, valid, row_has_seq, first) for rows in venues]
    for o in orders:
        verdict[o.rows[o.late]] = _OUT_OF_ORDER
        prior[o.rows[o.late]], prior[o.rows[o.tied]] = o.highest[o.late - 1], o.highest[o.tied - 1]
    tied = np.concatenate([o.rows[o.tied] for o in orders] + [np.empty(0, dtype=np.int64)])
    if tied.size:
        before = np.concatenate([o.rows[o.latest] for o in orders])
        has_seq = row_has_seq[tied]
        duplicate = has_seq.copy()
        if not has_seq.all():
            duplicate[~has_seq] = _same_book(hist, tied[~has_seq], before[~has_seq])
        verdict[tied[duplicate]] = _DUPLICATE
    return verdict, key, prior


def _rejected(
    quotes: pl.DataFrame, verdict: np.ndarray, key: np.ndarray, prior: np.ndarray, facts: tuple[np.ndarray, np.ndarray]
) -> pl.DataFrame:
    """The rejected rows of ``quotes`` with reason and detail: the disordered rows, then the outliers.

    Args:
        verdict, key, prior: per row of ``quotes``.
        facts: (mid, reference median) per row of ``quotes``, read for the outliers only.
    """
    disordered = np.flatnonzero((verdict == _OUT_OF_ORDER) | (verdict == _DUPLICATE))
    outliers = np.flatnonzero(verdict == _OUTLIER)
    details = [f"update key {k} after {p}" for k, p in zip(key[disordered], prior[disordered], strict=True)]
    if outliers.size:  # Polars' own float texts
        mid, ref = pl.col("mid"), pl.col("_ref")
        text = _text("mid ", mid, " is ", _deviation_bps(ref).round(1), " bps from rolling median ", ref)
        details += (
            pl.DataFrame({"mid": facts[0][outliers], "_ref": facts[1][outliers]}).select(text).to_series().to_list()
        )
    rows = np.concatenate([disordered, outliers])
    reasons = pl.Series("reason", _REASONS[verdict[rows]], dtype=pl.String)
    return quotes[rows].hstack([reasons, pl.Series("detail", details, dtype=pl.String)])


def clean_stream(
    state: StreamState | None, quotes: pl.DataFrame, cfg: CleaningConfig
) -> tuple[StreamState, pl.DataFrame, pl.DataFrame]:
    """Stream checks for one symbol's rows (in processing order) that passed ``check_rows``.

    Returns (new state, clean rows, rejected rows with reason/detail: the disordered rows, then the outliers). Rows
    keep their input columns.

    The checks run on the history (the state's tail, then the rows) in NumPy, one venue at a time; the texts are
    built for the rejected rows only.
    """
    window = cfg.outlier_window - 1
    if window < _MIN_REFERENCE_MIDS:
        msg = f"cleaning.outlier_window = {cfg.outlier_window}: must be at least {_MIN_REFERENCE_MIDS + 1}"
        raise ValueError(msg)
    fresh = pl.DataFrame([*quotes[list(TAIL_COLUMNS[:-1])], ((quotes["bid_px"] + quotes["ask_px"]) / 2).alias("mid")])
    tail = state.tail if state is not None else fresh.clear()
    hist = pl.concat([tail, fresh], how="vertical_relaxed") if tail.height else fresh
    venues = _venue_rows(hist["exchange"], list(dict.fromkeys(tail["exchange"])))
    verdict, key, prior = _disorder(hist, venues, tail.height)
    mids = hist["mid"]
    mid_values, reference, keep = mids.to_numpy(), np.full(hist.height, np.nan), []
    for rows in venues:
        in_order = rows[verdict[rows] == 0]
        venue_mids = mids.gather(in_order) if mids.has_nulls() else pl.Series("mid", mid_values[in_order])
        found, medians = _outliers(venue_mids, window, cfg.outlier_bps)
        verdict[in_order[found]], reference[in_order[found]] = _OUTLIER, medians
        # The reference history holds outliers too, so it does not depend on how rows were cut into batches.
        keep.append(in_order[-window:])
    new_tail = hist[np.sort(np.concatenate(keep))] if keep else tail
    mine = slice(tail.height, None)
    rejected = _rejected(quotes, verdict[mine], key[mine], prior[mine], (mid_values[mine], reference[mine]))
    clean = quotes.filter(pl.Series(verdict[mine] == 0)) if rejected.height else quotes
    return StreamState(new_tail), clean, rejected
