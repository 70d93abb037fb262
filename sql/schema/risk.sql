-- Output tables of the risk step (flows/risk): paper execution, inventory, PnL, risk metrics and alerts.
-- Times are on the receive clock (ts_recv of the quotes), so a replay reproduces every row; ids are built from the
-- signal id or the receive-clock instant (ISO-8601 UTC), never from a uuid or the wall clock.
-- Money: *_quote = the symbol's quote currency, *_usdt = the valuation currency ([risk] valuation_currency).

CREATE TABLE fills (
    fill_id        VARCHAR NOT NULL,   -- "<signal_id>/<leg>"
    signal_id      VARCHAR NOT NULL,
    leg            VARCHAR NOT NULL,   -- buy | sell | unwind_buy (sells back the buy leg) | unwind_sell (buys back)
    exchange       VARCHAR NOT NULL,
    symbol         VARCHAR NOT NULL,
    side           VARCHAR NOT NULL,   -- buy | sell
    ts_fill        TIMESTAMPTZ NOT NULL,  -- arrival at the venue: ts_signal + latency (+ execution_timeout for unwinds)
    qty_requested  DOUBLE NOT NULL,    -- base units
    qty_filled     DOUBLE NOT NULL,
    px             DOUBLE,             -- average fill price; null when nothing filled
    limit_px       DOUBLE,             -- IOC limit (signal price +/- slippage tolerance); null for unwinds (market)
    fee_quote      DOUBLE NOT NULL,
    book_ts_recv   TIMESTAMPTZ,        -- receive time of the quote filled against
    status         VARCHAR NOT NULL    -- filled | partial | slippage | no_quote
);

CREATE TABLE positions (
    position_id    VARCHAR NOT NULL,   -- "<signal_id>/<stage>/<exchange>/<asset>", stage = execute | unwind
    signal_id      VARCHAR NOT NULL,
    ts_position    TIMESTAMPTZ NOT NULL,
    exchange       VARCHAR NOT NULL,
    asset          VARCHAR NOT NULL,
    balance        DOUBLE NOT NULL,    -- after the fills of this stage
    start_balance  DOUBLE NOT NULL,    -- pre-funded ([risk.balances])
    position_qty   DOUBLE NOT NULL,    -- balance - start_balance
    mark_usdt      DOUBLE,
    position_usdt  DOUBLE              -- position_qty * mark_usdt
);

CREATE TABLE pnl (
    pnl_id                 VARCHAR NOT NULL,  -- = signal_id: one row per signal, whatever happened to it
    signal_id              VARCHAR NOT NULL,
    strategy               VARCHAR NOT NULL,
    symbol                 VARCHAR NOT NULL,
    buy_exchange           VARCHAR NOT NULL,
    sell_exchange          VARCHAR NOT NULL,
    ts_signal              TIMESTAMPTZ NOT NULL,
    ts_decided             TIMESTAMPTZ NOT NULL,  -- when the outcome was final (block, fill, or unwind)
    status                 VARCHAR NOT NULL,  -- filled | partial | leg_failure | missed | blocked | skipped (strategy
                                              -- not in [risk] strategies)
    reason                 VARCHAR,           -- why blocked, sized down, or missed (e.g. kill_switch:limit:drawdown)
    qty_signal             DOUBLE NOT NULL,
    qty_sized              DOUBLE NOT NULL,   -- after balance / position-size caps (0 when blocked)
    qty_matched            DOUBLE NOT NULL,   -- hedged quantity kept
    signal_net_edge_bps    DOUBLE,            -- as the signal stated it
    expected_edge_bps      DOUBLE,            -- net of fees at the signal's prices, per sized notional
    realized_edge_bps      DOUBLE,            -- net PnL per sized notional (qty_sized * buy_px of the signal)
    expected_profit_quote  DOUBLE NOT NULL,
    realized_pnl_quote     DOUBLE NOT NULL,   -- before fees, including unwinds
    fees_quote             DOUBLE NOT NULL,
    net_pnl_quote          DOUBLE NOT NULL,
    unwind_cost_quote      DOUBLE NOT NULL,   -- loss (fees included) of the unwound quantities
    cum_net_pnl_usdt       DOUBLE NOT NULL    -- running realized PnL minus fees of the book
);

CREATE TABLE risk_metrics (
    metrics_id           VARCHAR NOT NULL,  -- ISO-8601 UTC instant of the tick
    ts_metrics           TIMESTAMPTZ NOT NULL,  -- multiples of [risk] metrics_interval_ms on the receive clock
    equity_usdt          DOUBLE NOT NULL,
    start_equity_usdt    DOUBLE NOT NULL,
    realized_pnl_usdt    DOUBLE NOT NULL,   -- before fees
    unrealized_pnl_usdt  DOUBLE NOT NULL,   -- inventory revaluation since the first marks
    fees_usdt            DOUBLE NOT NULL,
    daily_pnl_usdt       DOUBLE NOT NULL,   -- vs equity at the first evaluation of the UTC day
    drawdown             DOUBLE NOT NULL,   -- fraction of peak equity
    max_drawdown         DOUBLE NOT NULL,
    gross_exposure_usdt  DOUBLE NOT NULL,   -- non-cash holdings, absolute
    net_exposure_usdt    DOUBLE NOT NULL,   -- position added by trading (0 while hedged)
    leverage             DOUBLE NOT NULL,   -- gross exposure / equity
    margin_ratio         DOUBLE,            -- equity / (gross exposure / max_leverage); null without exposure
    var95_hist_usdt      DOUBLE,            -- rolling window of per-interval equity changes
    var99_hist_usdt      DOUBLE,
    var95_param_usdt     DOUBLE,
    var99_param_usdt     DOUBLE,
    sharpe               DOUBLE,            -- per interval, not annualized
    sortino              DOUBLE,
    window_intervals     BIGINT NOT NULL,
    signals_total        BIGINT NOT NULL,
    signals_executed     BIGINT NOT NULL,   -- filled | partial | leg_failure
    signals_blocked      BIGINT NOT NULL,
    success_rate         DOUBLE,            -- executed with net PnL > 0 / executed
    open_orders          BIGINT NOT NULL,
    risk_level           VARCHAR NOT NULL,  -- low | medium | high | critical
    kill_switch          BOOLEAN NOT NULL,
    kill_reason          VARCHAR
);

CREATE TABLE alerts (
    alert_id     VARCHAR NOT NULL,  -- "<name>/<severity>/<ISO-8601 UTC instant>"
    ts_alert     TIMESTAMPTZ NOT NULL,
    name         VARCHAR NOT NULL,  -- a limit (drawdown, daily_loss, ...), feed_stale:<venue>, validation_failure_rate,
                                    -- rebalance:<asset>, stream_stall:<symbol>, kill_switch, kill_switch_reset
    severity     VARCHAR NOT NULL,  -- info | warning | critical
    value        DOUBLE,
    limit_value  DOUBLE,
    message      VARCHAR NOT NULL
);
