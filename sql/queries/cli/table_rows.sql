-- Rows of one lake table (its view in arbflow.duckdb); `arbflow status` shows it for every table of sql/schema.
-- @param table_name VARCHAR the table, e.g. quotes_clean
select count(*) as rows from query_table($table_name)
