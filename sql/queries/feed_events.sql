-- Live feed events (connects, disconnects, gaps, stalls, clock skew), newest first (receive clock, UTC).
-- @param exchange VARCHAR = '' venue (binance | okx | htx); empty = every venue
-- @param kind VARCHAR = '' event kind (e.g. disconnect, gap, stall); empty = every kind
-- @param limit BIGINT = 100 rows returned
select ts_recv, exchange, symbol, kind, feed_up, attempt, seq_expected, seq_received, detail, event_id
from feed_events
where ($exchange = '' or exchange = $exchange) and ($kind = '' or kind = $kind)
order by ts_recv desc, event_id
limit $limit
