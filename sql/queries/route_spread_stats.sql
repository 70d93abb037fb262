-- Tumbling-window spread statistics of one cross-exchange route (buy on one venue, sell on the other), in window
-- order. Late partials (arrived after their window closed) are separate rows marked is_late.
-- @param symbol VARCHAR symbol, ccxt unified (e.g. BTC/USDT)
-- @param buy VARCHAR venue bought at its ask (e.g. binance)
-- @param sell VARCHAR venue sold at its bid (e.g. okx)
-- @param since TIMESTAMPTZ = 1970-01-01T00:00:00+00:00 first window start shown (ISO-8601; no offset = UTC)
select window_start, window_end, evaluations, signals,
       round(net_edge_bps_min, 2) as net_edge_bps_min, round(net_edge_bps_mean, 2) as net_edge_bps_mean,
       round(net_edge_bps_max, 2) as net_edge_bps_max, round(gross_edge_bps_mean, 2) as gross_edge_bps_mean, is_late
from spread_stats
where symbol = $symbol and buy_exchange = $buy and sell_exchange = $sell and window_start >= $since
order by window_start, is_late, stats_id
