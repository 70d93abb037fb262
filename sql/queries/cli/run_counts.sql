-- What the lake holds, one column per count (the column names are the labels `arbflow summary` prints): input rows
-- (every one is clean or rejected), validation runs and failures, signals, windows and late window partials.
select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected) as "quotes in",
       (select count(*) from quotes_clean) as "clean",
       (select count(*) from quotes_rejected) as "rejected",
       (select count(*) from validation_runs) as "validation runs",
       (select count(*) from validation_runs where not success) as "validation failures",
       (select count(*) from signals) as "signals",
       (select count(*) from spread_stats) as "windows",
       (select count(*) from spread_stats where is_late) as "late window partials"
