-- Live feed health and depth, written by connectors/live.py (LiveSource emits TableBatch items for these tables).
-- Clocks: ts_recv = our local receive clock (UTC) when the event was detected; ts_exchange = venue clock, nullable.
-- Ids are "<source partition>/event/<n>" and "<source partition>/book/<n>": positions in the partition's stream, so
-- they never depend on wall-clock values and a resumed run continues the numbering instead of duplicating.

CREATE TABLE feed_events (
    event_id      VARCHAR NOT NULL,   -- "live-binance/event/17"
    exchange      VARCHAR NOT NULL,   -- ccxt id
    symbol        VARCHAR,            -- null = the whole connection
    kind          VARCHAR NOT NULL,   -- connect | connect_failed | live | disconnect | stall | resubscribe | gap |
                                      -- resync | bad_frame | clock_skew | clock_ok
    feed_up       BOOLEAN NOT NULL,   -- are this venue's quotes fit for signals from this event on (see below)
    ts_recv       TIMESTAMPTZ NOT NULL,
    ts_exchange   TIMESTAMPTZ,        -- clock_skew / clock_ok: the venue time of the quote that showed it
    seq_expected  BIGINT,             -- gap: the update id that should have come next
    seq_received  BIGINT,             -- gap: the first update id that came instead
    attempt       BIGINT NOT NULL,    -- reconnect attempts since market data last flowed (backoff exponent)
    detail        VARCHAR NOT NULL    -- human-readable cause: close code, silence length, decode error, offset
);
-- feed_up contract: False after connect, connect_failed, disconnect, stall, resubscribe; True after live (first
-- market data after a (re)connect or resubscribe); unchanged by bad_frame, gap, resync, clock_skew, clock_ok.
-- A venue is stale for signals from a feed_up = False event until the next feed_up = True event (by ts_recv).

CREATE TABLE books (
    book_id      VARCHAR NOT NULL,    -- "live-binance/book/3"
    exchange     VARCHAR NOT NULL,
    symbol       VARCHAR,
    bid_px       DOUBLE[] NOT NULL,   -- best first
    bid_qty      DOUBLE[] NOT NULL,   -- base units
    ask_px       DOUBLE[] NOT NULL,
    ask_qty      DOUBLE[] NOT NULL,
    ts_exchange  TIMESTAMPTZ,
    ts_recv      TIMESTAMPTZ NOT NULL,
    seq          BIGINT,              -- Binance last update id u; OKX seqId; HTX depth version
    source       VARCHAR NOT NULL
);
