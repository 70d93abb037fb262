-- Output tables of arbflow. This file is the single source of truth for their columns and types: the lake sink
-- casts every batch to these schemas, and data/arbflow.duckdb exposes each table as a view over its Parquet files.
-- Clocks: ts_exchange = venue clock (nullable), ts_recv = our receive clock, ts_event = coalesce(ts_exchange, ts_recv).
-- Every table has a deterministic id built from its inputs, so re-running or resuming never duplicates a row.

CREATE TABLE quotes_clean (
    quote_id     VARCHAR NOT NULL,   -- "<source partition>/<offset>": position in the replayed/received stream
    exchange     VARCHAR NOT NULL,
    symbol       VARCHAR NOT NULL,
    bid_px       DOUBLE NOT NULL,
    bid_qty      DOUBLE NOT NULL,    -- base units
    ask_px       DOUBLE NOT NULL,
    ask_qty      DOUBLE NOT NULL,
    ts_exchange  TIMESTAMPTZ,
    ts_recv      TIMESTAMPTZ NOT NULL,
    ts_event     TIMESTAMPTZ NOT NULL,
    seq          BIGINT,
    source       VARCHAR NOT NULL,
    batch_seq    BIGINT NOT NULL
);

CREATE TABLE quotes_rejected (
    quote_id     VARCHAR NOT NULL,
    stage        VARCHAR NOT NULL,   -- normalize | clean | validate
    reason       VARCHAR NOT NULL,   -- e.g. nan_price, crossed_book, duplicate, out_of_order, gx:<expectation>
    detail       VARCHAR,
    exchange     VARCHAR,
    symbol       VARCHAR,
    bid_px       DOUBLE,
    bid_qty      DOUBLE,
    ask_px       DOUBLE,
    ask_qty      DOUBLE,
    ts_exchange  TIMESTAMPTZ,
    ts_recv      TIMESTAMPTZ,
    seq          BIGINT,
    source       VARCHAR,
    raw          VARCHAR,            -- the original row as JSON, for forensics
    batch_seq    BIGINT NOT NULL
);

CREATE TABLE validation_runs (
    run_id               VARCHAR NOT NULL,  -- "<source partition>/<batch_seq>/<suite>", audit: "audit/<partition>/<first>-<last batch_seq>/<suite>"
    batch_seq            BIGINT NOT NULL,
    suite                VARCHAR NOT NULL,  -- e.g. quotes.critical
    severity             VARCHAR NOT NULL,  -- critical (failing rows quarantined) | warning (recorded only)
    success              BOOLEAN NOT NULL,
    evaluated            INTEGER NOT NULL,
    failed_expectations  VARCHAR[] NOT NULL,
    rows_in              BIGINT NOT NULL,
    rows_unexpected      BIGINT NOT NULL,
    ts_recv_min          TIMESTAMPTZ,
    ts_recv_max          TIMESTAMPTZ,
    engine               VARCHAR NOT NULL,  -- compiled (every batch, hot path) | gx (asynchronous audit, run_id "audit/...")
    compiled_agrees      BOOLEAN            -- gx rows: did the compiled gate give the same verdict (false = compiler bug)
);

CREATE TABLE spreads (
    spread_id              VARCHAR NOT NULL,  -- "<triggering quote_id>/<buy>/<sell>"
    symbol                 VARCHAR NOT NULL,
    buy_exchange           VARCHAR NOT NULL,  -- buy at its ask
    sell_exchange          VARCHAR NOT NULL,  -- sell at its bid
    ts_eval                TIMESTAMPTZ NOT NULL,  -- receive clock of the update that triggered the evaluation
    buy_px                 DOUBLE NOT NULL,
    sell_px                DOUBLE NOT NULL,
    qty                    DOUBLE NOT NULL,   -- base units: min(ask_qty buy, bid_qty sell), capped by max position
    gross_edge_bps         DOUBLE NOT NULL,
    net_edge_bps           DOUBLE NOT NULL,   -- after both taker fees
    expected_profit_quote  DOUBLE NOT NULL,   -- quote currency, net of fees, at qty
    age_ms                 DOUBLE NOT NULL,   -- receive-clock age of the older leg at ts_eval
    skew_ms                DOUBLE NOT NULL,   -- |ts_event buy - ts_event sell|
    fresh                  BOOLEAN NOT NULL,  -- age and skew within limits
    is_signal              BOOLEAN NOT NULL,
    buy_quote_id           VARCHAR NOT NULL,
    sell_quote_id          VARCHAR NOT NULL
);

CREATE TABLE signals (
    signal_id              VARCHAR NOT NULL,  -- "cross/<triggering quote_id>/<buy>/<sell>"
    strategy               VARCHAR NOT NULL,  -- cross
    symbol                 VARCHAR NOT NULL,
    buy_exchange           VARCHAR NOT NULL,
    sell_exchange          VARCHAR NOT NULL,
    ts_signal              TIMESTAMPTZ NOT NULL,  -- receive clock of the triggering update
    buy_px                 DOUBLE NOT NULL,
    sell_px                DOUBLE NOT NULL,
    qty                    DOUBLE NOT NULL,
    notional_quote         DOUBLE NOT NULL,   -- qty * buy_px, quote currency
    gross_edge_bps         DOUBLE NOT NULL,
    net_edge_bps           DOUBLE NOT NULL,
    expected_profit_quote  DOUBLE NOT NULL,
    age_ms                 DOUBLE NOT NULL,
    skew_ms                DOUBLE NOT NULL,
    buy_quote_id           VARCHAR NOT NULL,
    sell_quote_id          VARCHAR NOT NULL,
    episode_id             VARCHAR            -- the opportunity (opportunities.episode_id) this signal opens; null for
                                              -- market_making (quotes, no episodes)
);

CREATE TABLE spread_stats (
    stats_id               VARCHAR NOT NULL,  -- "<symbol>/<buy>/<sell>/<window_start>" (+ "/late/<n>" for late rows)
    symbol                 VARCHAR NOT NULL,
    buy_exchange           VARCHAR NOT NULL,
    sell_exchange          VARCHAR NOT NULL,
    window_start           TIMESTAMPTZ NOT NULL,  -- receive clock (ts_eval), tumbling
    window_end             TIMESTAMPTZ NOT NULL,
    evaluations            BIGINT NOT NULL,
    signals                BIGINT NOT NULL,
    net_edge_bps_min       DOUBLE NOT NULL,
    net_edge_bps_max       DOUBLE NOT NULL,
    net_edge_bps_mean      DOUBLE NOT NULL,
    gross_edge_bps_mean    DOUBLE NOT NULL,
    is_late                BOOLEAN NOT NULL   -- a partial that arrived after its window closed: kept, not dropped
);
