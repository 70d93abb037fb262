-- Opportunity episodes (first/last seen, duration, peak and mean net edge, largest executable size), longest first.
-- Blips (shorter than [episodes] min_duration_ms) are left out unless include_blips is true.
-- @param strategy VARCHAR = '' cross | triangular | ...; empty = every strategy
-- @param include_blips BOOLEAN = false also show episodes shorter than the minimum duration
-- @param limit BIGINT = 50 rows returned
select strategy, route, first_seen, last_seen, round(duration_ms, 1) as duration_ms, updates,
       round(net_edge_bps_peak, 2) as net_edge_bps_peak, round(net_edge_bps_mean, 2) as net_edge_bps_mean,
       round(size_max_quote, 2) as size_max_quote, is_blip, is_late, episode_id
from opportunities
where ($strategy = '' or strategy = $strategy) and ($include_blips or not is_blip)
order by duration_ms desc, episode_id
limit $limit
