"""Raw source rows -> typed quotes, or quarantined rows that say why.

Sources hand over whatever the venue or file gave (strings, ints, missing columns). This step casts to the quote
schema; a value that is present but does not parse is ``wrong_type:<column>``, a required value that is absent is
``missing_field:<column>``. A CSV line whose field count does not match the header (the replay source marks it with
``malformed_line``, its line number, and ``raw_line``, its text) is ``malformed_line`` with the line number in the detail
and the line itself as ``raw``. Nothing raises on bad data, and every input row leaves as exactly one of the two outputs.
"""

from __future__ import annotations

import polars as pl

from connectors.schema import POLARS_QUOTE_SCHEMA, PRICE_COLUMNS, columns

REQUIRED = ("exchange", "symbol", *PRICE_COLUMNS, "ts_recv")
TIMESTAMPS = ("ts_exchange", "ts_recv")
REJECT_COLUMNS = tuple(c for c in columns("quotes_rejected") if c != "batch_seq")  # the flow adds batch_seq
MALFORMED = ("malformed_line", "raw_line")  # set by the replay source on ragged CSV lines (connectors/formats.py)


def _cast(column: str, dtype: pl.DataType, source: pl.DataType) -> pl.Expr:
    """Lenient cast: integers are epoch microseconds, strings are ISO-8601 or epoch microseconds."""
    col = pl.col(column)
    if column in TIMESTAMPS:
        if source == pl.String:
            as_int = col.str.strip_chars().cast(pl.Int64, strict=False)
            as_iso = col.str.strip_chars().str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
            return pl.coalesce(as_int.cast(dtype), as_iso)
        if source.is_numeric():
            return col.cast(pl.Int64, strict=False).cast(dtype)
        if isinstance(source, pl.Datetime) and source.time_zone is None:
            return col.dt.replace_time_zone("UTC").cast(dtype)
    if source == pl.String and dtype.is_numeric():
        return col.str.strip_chars().cast(dtype, strict=False)
    return col.cast(dtype, strict=False)


def normalize(raw: pl.DataFrame, stage: str = "normalize") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a raw frame (quote columns in any dtype, plus ``quote_id``) into typed quotes and rejected rows.

    Returns:
        (quotes, rejected): quotes has ``quote_id`` + the quote schema; rejected has the quotes_rejected columns
        (minus ``batch_seq``, which the flow adds). The first failing check names the reason.

    The hot path (already-typed capture files) costs one mask and one cast; the JSON copy of the original row and the
    reason text are built only for the rows that fail.
    """
    frame = raw.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in POLARS_QUOTE_SCHEMA if c not in raw])
    source = frame.schema
    present = {
        c: (pl.col(c).str.strip_chars() != "").fill_null(False) if source[c] == pl.String else pl.col(c).is_not_null()
        for c in POLARS_QUOTE_SCHEMA
    }
    typed = {c: _cast(c, t, source[c]) for c, t in POLARS_QUOTE_SCHEMA.items()}
    checks: list[tuple[pl.Expr, str, str | None]] = []
    if "malformed_line" in raw.columns:
        checks.append((pl.col("malformed_line").is_not_null(), "malformed_line", None))
    checks += [(~present[c], "missing_field", c) for c in REQUIRED]
    checks += [
        (typed[c].is_null() & present[c], "wrong_type", c) for c, t in POLARS_QUOTE_SCHEMA.items() if source[c] != t
    ]
    bad = frame.select(pl.any_horizontal([cond for cond, _, _ in checks]).alias("bad"))["bad"]
    any_bad = bool(bad.any())
    quotes = (frame.filter(~bad) if any_bad else frame).select(  # no copy of a clean batch
        pl.col("quote_id").cast(pl.String), *[typed[c].alias(c) for c in POLARS_QUOTE_SCHEMA]
    )
    if any_bad:
        return quotes, _rejected(frame.filter(bad), raw.columns, checks, typed, stage)
    # A clean batch (nearly every live batch, a few rows) skips the rejection query, whose fixed cost is ~1.5 ms:
    # its empty result depends only on the input schema, so it is built once per schema.
    key = (tuple(raw.schema.items()), stage)
    if key not in _EMPTY_REJECTED:
        _EMPTY_REJECTED[key] = _rejected(frame.clear(), raw.columns, checks, typed, stage)
    return quotes, _EMPTY_REJECTED[key]


_EMPTY_REJECTED: dict[tuple[object, ...], pl.DataFrame] = {}


def _rejected(
    failed: pl.DataFrame,
    raw_columns: list[str],
    checks: list[tuple[pl.Expr, str, str | None]],
    typed: dict[str, pl.Expr],
    stage: str,
) -> pl.DataFrame:
    """The quotes_rejected rows of ``failed``: the first failing check names the reason."""
    reason: pl.Expr | pl.When | pl.Then = pl
    detail: pl.Expr | pl.When | pl.Then = pl
    for cond, name, column in checks:
        reason = reason.when(cond).then(pl.lit(name if column is None else f"{name}:{column}"))  # type: ignore[union-attr]
        detail = detail.when(cond).then(_raw_value(column))  # type: ignore[union-attr]
    rejected = failed.select(
        pl.col("quote_id").cast(pl.String),
        pl.lit(stage).alias("stage"),
        reason.otherwise(None).alias("reason"),  # type: ignore[union-attr]
        detail.otherwise(None).alias("detail"),  # type: ignore[union-attr]
        *[typed[c].alias(c) for c in POLARS_QUOTE_SCHEMA if c != "source"],
        pl.col("source").cast(pl.String).fill_null("unknown"),
        _raw_row(raw_columns).alias("raw"),
    )
    return rejected.select(REJECT_COLUMNS)


def _raw_row(columns: list[str]) -> pl.Expr:
    """The original row as JSON, or a malformed CSV line's own text."""
    as_json = pl.struct([pl.col(c).cast(pl.String) for c in columns if c != "quote_id" and c not in MALFORMED])
    row = as_json.struct.json_encode()
    return pl.coalesce(pl.col("raw_line"), row) if "raw_line" in columns else row


def _raw_value(column: str | None) -> pl.Expr:
    """The offending raw value, for the rejection detail (a malformed line: its line number)."""
    if column is None:
        return pl.concat_str([pl.lit("line="), pl.col("malformed_line").cast(pl.String)])
    return pl.concat_str([pl.lit(f"{column}="), pl.col(column).cast(pl.String).fill_null("null")])
