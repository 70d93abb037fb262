-- Best cross-exchange signals (opportunity onsets), net of both taker fees, best first.
-- @param symbol VARCHAR = '' symbol to keep (ccxt unified, e.g. BTC/USDT); empty = every symbol
-- @param min_net_edge_bps DOUBLE = 0 smallest net edge shown, basis points
-- @param limit BIGINT = 20 rows returned
select symbol, buy_exchange, sell_exchange, ts_signal,
       round(net_edge_bps, 2) as net_edge_bps, round(gross_edge_bps, 2) as gross_edge_bps,
       qty, round(notional_quote, 2) as notional_quote, round(expected_profit_quote, 2) as expected_profit_quote,
       round(age_ms, 1) as age_ms, signal_id
from signals
where ($symbol = '' or symbol = $symbol) and net_edge_bps >= $min_net_edge_bps
order by net_edge_bps desc, signal_id
limit $limit
