-- Feed health per venue from feed_events: the latest event and whether the feed is up after it, with counts of
-- disconnects, gaps and stalls. Empty when the lake holds no live run.
select exchange,
       arg_max(kind, ts_recv) as last_event,
       arg_max(feed_up, ts_recv) as feed_up,
       max(ts_recv) as last_event_ts_recv,
       count(*) filter (where kind = 'disconnect') as disconnects,
       count(*) filter (where kind = 'gap') as gaps,
       count(*) filter (where kind = 'stall') as stalls,
       count(*) as events
from feed_events
group by exchange
order by exchange
