-- The roll-up's upsert in PL/pgSQL: a LANGUAGE sql function called from PL/pgSQL is parsed and planned again at every
-- call (0.19 ms a call under the bench, pg_stat_statements: once per order, once per payment); a PL/pgSQL function
-- keeps its statement's plan for the session. Same statement; parameters by position ($1 = at … $8 = credits_consumed),
-- as their names are also daily_stats' column names.
CREATE OR REPLACE FUNCTION "daily_stats_add"(at timestamptz, sign int, created int, paid int, revenue bigint, refunded bigint,
    credits_sold bigint, credits_consumed bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO daily_stats AS d (day, shard, created, paid, revenue, refunded, credits_sold, credits_consumed)
  VALUES (($1 AT TIME ZONE 'Asia/Shanghai')::date, pg_backend_pid(), $2 * $3, $2 * $4, $2 * $5, $2 * $6, $2 * $7, $2 * $8)
  ON CONFLICT (day, shard) DO UPDATE SET created = d.created + excluded.created, paid = d.paid + excluded.paid,
    revenue = d.revenue + excluded.revenue, refunded = d.refunded + excluded.refunded,
    credits_sold = d.credits_sold + excluded.credits_sold, credits_consumed = d.credits_consumed + excluded.credits_consumed;
END $$;
--> statement-breakpoint
-- The services' connections plan every statement with its values (plan_cache_mode = force_custom_plan, see
-- packages/db); inside these functions every statement reads or writes one row by its key, whose plan is the key's
-- index at any size: they keep their cached plans.
ALTER FUNCTION "daily_stats_add"(timestamptz, int, int, int, bigint, bigint, bigint, bigint) SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION "daily_stats_order"(orders, int, boolean) SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION "orders_before_insert"() SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION "orders_after_change"() SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION "credit_ledger_after_change"() SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION "refunds_after_change"() SET plan_cache_mode = auto;
