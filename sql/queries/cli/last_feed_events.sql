-- Each venue's latest feed event since a receive-clock instant, and whether any of its events since then was `live`
-- (market data arrived). `arbflow capture` uses it to tell a run where no venue ever connected from one that did.
-- @param since TIMESTAMPTZ first receive time looked at (ISO-8601; no offset = UTC)
select exchange, kind, detail, bool_or(kind = 'live') over (partition by exchange) as was_live
from feed_events
where ts_recv >= $since
qualify row_number() over (partition by exchange order by ts_recv desc, event_id desc) = 1
order by exchange
