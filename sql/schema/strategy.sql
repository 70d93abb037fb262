-- Strategy-depth tables: triangular legs, opportunity episodes, rejection reasons, spread z-scores, N-leg cycles.
-- Written from flows/triangular.py, flows/episodes.py, flows/rejections.py, flows/cycles.py (pure functions; the
-- flow wires them). Clocks: ts_signal / ts_eval / first_seen / last_seen are the receive clock of the evaluating
-- update. Ids are built from the triggering quote_id and the route, so replays and resumes never duplicate a row.
--
-- Triangular and market-making signals go to `signals` (core.sql) with strategy 'triangular' | 'market_making':
--   triangular: symbol = route "USDT>BTC>ETH>USDT", buy_exchange = sell_exchange = the venue, buy_px / qty / buy_quote_id
--   of the first leg, sell_px / sell_quote_id of the last, notional_quote and expected_profit_quote in the start asset
--   (the route's first asset); every leg in `signal_legs`.
--   market_making: one row per level: buy_px / sell_px = the paper bid / ask, qty in base, net of maker fees.

CREATE TABLE signal_legs (
    signal_id      VARCHAR NOT NULL,   -- "triangular/<triggering quote_id>/<route>"
    ts_signal      TIMESTAMPTZ NOT NULL,
    leg_no         INTEGER NOT NULL,   -- 0-based, in trading order
    symbol         VARCHAR NOT NULL,
    side           VARCHAR NOT NULL,   -- buy (pay quote at the ask) | sell (pay base at the bid)
    px             DOUBLE NOT NULL,
    qty_base       DOUBLE NOT NULL,    -- order quantity of the unrounded chain
    qty_base_lot   DOUBLE NOT NULL,    -- floored to the market's lot step (what would be sent)
    input_amount   DOUBLE NOT NULL,    -- what the leg spends (quote for buy, base for sell)
    output_amount  DOUBLE NOT NULL,    -- what it receives, after the taker fee
    fee_bps        DOUBLE NOT NULL,
    quote_id       VARCHAR NOT NULL    -- the leg's quote used
);

-- One row where a route's verdict starts or changes (not one per tick while it persists): flows/rejections.py.
CREATE TABLE rejections (
    rejection_id    VARCHAR NOT NULL,  -- "<strategy>/<evaluation id>" (spread_id, or "<quote_id>/<route>")
    strategy        VARCHAR NOT NULL,  -- cross | triangular
    route           VARCHAR NOT NULL,  -- cross: symbol; triangular: "<exchange>:<route>"
    buy_exchange    VARCHAR NOT NULL,
    sell_exchange   VARCHAR NOT NULL,
    ts_eval         TIMESTAMPTZ NOT NULL,
    reason          VARCHAR NOT NULL,  -- first failing gate: quarantined_input | stale_leg | skew | fees | thin_size
                                       -- | min_notional | risk_block (flows/rejections.py)
    reasons         VARCHAR[] NOT NULL,  -- every failing gate, same order
    gross_edge_bps  DOUBLE NOT NULL,   -- > 0: a would-be opportunity before fees
    net_edge_bps    DOUBLE NOT NULL,
    age_ms          DOUBLE NOT NULL,
    skew_ms         DOUBLE NOT NULL,
    qty             DOUBLE NOT NULL,   -- base units (triangular: first leg, lot-floored)
    notional_quote  DOUBLE NOT NULL,   -- cross: qty x buy_px; triangular: start amount in the start asset
    trigger_id      VARCHAR NOT NULL   -- the evaluation that was rejected
);

CREATE TABLE opportunities (
    episode_id         VARCHAR NOT NULL,  -- "<strategy>/<route>/<first qualifying evaluation id>" (+ "/late")
    strategy           VARCHAR NOT NULL,
    route              VARCHAR NOT NULL,  -- cross: "<symbol>/<buy>/<sell>"; triangular: "<exchange>:<route>"
    first_seen         TIMESTAMPTZ NOT NULL,
    last_seen          TIMESTAMPTZ NOT NULL,
    ts_closed          TIMESTAMPTZ,       -- the first evaluation that no longer qualified; null = ended by the gap
    duration_ms        DOUBLE NOT NULL,   -- last_seen - first_seen
    updates            BIGINT NOT NULL,   -- qualifying evaluations
    evaluations        BIGINT,            -- cross: evaluations of the route from first_seen to last_seen, neutral
                                          -- (stale, skewed, thin) ones included; null: not counted (triangular)
    net_edge_bps_peak  DOUBLE NOT NULL,
    net_edge_bps_mean  DOUBLE NOT NULL,
    size_max_quote     DOUBLE NOT NULL,   -- largest executable size seen (cross: notional; triangular: start amount)
    is_blip            BOOLEAN NOT NULL,  -- shorter than [episodes] min_duration_ms
    is_late            BOOLEAN NOT NULL   -- reached a session window already closed: kept, not dropped
);

CREATE TABLE spread_zscores (
    zscore_id          VARCHAR NOT NULL,  -- "<symbol>/<buy>/<sell>/<window_start>" (+ "/late/<first ts>")
    symbol             VARCHAR NOT NULL,
    buy_exchange       VARCHAR NOT NULL,
    sell_exchange      VARCHAR NOT NULL,
    window_start       TIMESTAMPTZ NOT NULL,  -- receive clock, sliding ([episodes] zscore_window_s / zscore_slide_s)
    window_end         TIMESTAMPTZ NOT NULL,
    evaluations        BIGINT NOT NULL,
    net_edge_bps_mean  DOUBLE NOT NULL,
    net_edge_bps_std   DOUBLE,            -- null below two evaluations
    net_edge_bps_last  DOUBLE NOT NULL,
    zscore_last        DOUBLE,            -- the window's last net edge against the window; null when flat
    is_late            BOOLEAN NOT NULL
);

CREATE TABLE cycles_found (
    cycle_id        VARCHAR NOT NULL,     -- "<scan id>/<route>"
    scan_id         VARCHAR NOT NULL,     -- caller's deterministic id of the scanned snapshot (e.g. its last quote_id)
    ts_scan         TIMESTAMPTZ NOT NULL, -- receive clock of the snapshot's latest quote
    route           VARCHAR NOT NULL,     -- "binance:USDT>binance:BTC>...>binance:USDT"
    legs            VARCHAR[] NOT NULL,   -- "<exchange>:<symbol>:buy|sell" or "transfer:<from>-><to>:<asset>"
    n_legs          INTEGER NOT NULL,
    net_edge_bps    DOUBLE NOT NULL,
    max_start       DOUBLE NOT NULL       -- top-of-book executable start amount, start-node units
);
