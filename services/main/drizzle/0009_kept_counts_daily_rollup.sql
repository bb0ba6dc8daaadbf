-- Cost growth (issue 19): figures kept with the rows instead of counted over the whole history on every read.
-- Triggers keep them in the same transaction as the row change, whoever writes (the repos, COPY, an operator's UPDATE).
--
-- 1. Per-user counts: a page of a user's orders / ledger answers `totalElements` from one row, not a count of
--    that user's 100,000 orders. `orders_seq` numbers a user's orders 1, 2, 3… at insert (orders.user_seq), so the
--    unfiltered history page N is the key range `user_seq <= orders_seq - offset`, valid while no order was moved
--    or deleted (then orders <> orders_seq and the listing falls back to the offset).
CREATE TABLE "user_counters" (
  "user_id" bigint PRIMARY KEY NOT NULL,
  "orders" bigint DEFAULT 0 NOT NULL,
  "orders_seq" bigint DEFAULT 0 NOT NULL,
  "ledger" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
-- Admin search by email counts `customer_email = …` (the address written on the order), kept per address.
CREATE TABLE "email_order_counts" (
  "email" text PRIMARY KEY NOT NULL,
  "orders" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "user_seq" bigint;
--> statement-breakpoint
UPDATE "orders" o SET "user_seq" = s.n
  FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at, id) AS n FROM "orders") s
 WHERE s.id = o.id;
--> statement-breakpoint
CREATE UNIQUE INDEX "orders_user_seq_idx" ON "orders" USING btree ("user_id", "user_seq");
--> statement-breakpoint
INSERT INTO "user_counters" (user_id, orders, orders_seq, ledger)
SELECT user_id, sum(o), sum(s), sum(l) FROM (
  SELECT user_id, count(*) AS o, max(user_seq) AS s, 0 AS l FROM "orders" GROUP BY user_id
  UNION ALL
  SELECT user_id, 0, 0, count(*) FROM "credit_ledger" GROUP BY user_id
) x GROUP BY user_id;
--> statement-breakpoint
INSERT INTO "email_order_counts" (email, orders)
SELECT customer_email, count(*) FROM "orders" WHERE customer_email IS NOT NULL GROUP BY customer_email;
--> statement-breakpoint
-- 2. Daily stats (China days), summed by the same rules as the query it replaces: orders created on the day;
--    orders paid on the day, their revenue (not paid with credits) and credits sold (credits orders that granted
--    them); refunds through the provider completed on the day; credits consumed on the day. One row per day and
--    writing backend (`shard` = pg_backend_pid()): a backend runs one transaction at a time, so two open
--    transactions never wait on, or deadlock over, the same row (every checkout and payment writes here); the read sums a
--    day's rows (a few dozen: one per connection that wrote that day). Shard 0 holds backfilled and folded figures (no backend has pid 0).
CREATE TABLE "daily_stats" (
  "day" date NOT NULL,
  "shard" integer NOT NULL,
  "created" bigint DEFAULT 0 NOT NULL,
  "paid" bigint DEFAULT 0 NOT NULL,
  "revenue" bigint DEFAULT 0 NOT NULL,
  "refunded" bigint DEFAULT 0 NOT NULL,
  "credits_sold" bigint DEFAULT 0 NOT NULL,
  "credits_consumed" bigint DEFAULT 0 NOT NULL,
  PRIMARY KEY ("day", "shard")
);
--> statement-breakpoint
CREATE FUNCTION "daily_stats_add"(at timestamptz, sign int, created int, paid int, revenue bigint, refunded bigint,
    credits_sold bigint, credits_consumed bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO daily_stats AS d (day, shard, created, paid, revenue, refunded, credits_sold, credits_consumed)
  VALUES ((at AT TIME ZONE 'Asia/Shanghai')::date, pg_backend_pid(), sign * created, sign * paid, sign * revenue,
          sign * refunded, sign * credits_sold, sign * credits_consumed)
  ON CONFLICT (day, shard) DO UPDATE SET created = d.created + excluded.created, paid = d.paid + excluded.paid,
    revenue = d.revenue + excluded.revenue, refunded = d.refunded + excluded.refunded,
    credits_sold = d.credits_sold + excluded.credits_sold, credits_consumed = d.credits_consumed + excluded.credits_consumed
$$;
--> statement-breakpoint
-- An order's part in the figures: created on its creation day (`created`); paid, revenue, credits sold on its payment day.
CREATE FUNCTION "daily_stats_order"(o orders, sign int, created boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF created THEN PERFORM daily_stats_add(o.created_at, sign, 1, 0, 0, 0, 0, 0); END IF;
  IF o.paid_at IS NOT NULL THEN
    PERFORM daily_stats_add(o.paid_at, sign, 0, 1,
      CASE WHEN o.payment_method IS DISTINCT FROM 'CREDITS' THEN coalesce(o.paid_amount_fen, 0) ELSE 0 END, 0,
      CASE WHEN o.kind = 'credits' AND o.credits_granted THEN coalesce(o.credits, 0) ELSE 0 END, 0);
  END IF;
END $$;
--> statement-breakpoint
-- Before an order is stored: its number in the user's history, the counts, its day's figures. An order stamped with
-- the transaction's start (the column default) is stamped again once numbered, under the counter row's lock, so a
-- user's orders are numbered in the order of their created_at even when the user creates two at once.
CREATE FUNCTION "orders_before_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The user's row first, as the ledger does (users FOR UPDATE, then the ledger row): the counter row is always
  -- locked after its user's row, so an order and a ledger entry of one user never deadlock over the two.
  PERFORM 1 FROM users WHERE id = NEW.user_id FOR NO KEY UPDATE;
  INSERT INTO user_counters AS c (user_id, orders, orders_seq) VALUES (NEW.user_id, 1, 1)
  ON CONFLICT (user_id) DO UPDATE SET orders = c.orders + 1, orders_seq = c.orders_seq + 1
  RETURNING orders_seq INTO NEW.user_seq;
  IF NEW.created_at = now() THEN
    NEW.created_at := clock_timestamp();
    IF NEW.updated_at = now() THEN NEW.updated_at := NEW.created_at; END IF;
  END IF;
  PERFORM daily_stats_order(NEW, 1, true);
  IF NEW.customer_email IS NOT NULL THEN
    INSERT INTO email_order_counts AS e (email, orders) VALUES (NEW.customer_email, 1)
    ON CONFLICT (email) DO UPDATE SET orders = e.orders + 1;
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "orders_before_insert" BEFORE INSERT ON "orders" FOR EACH ROW EXECUTE FUNCTION orders_before_insert();
--> statement-breakpoint
-- Moved to another user or address, or deleted: the counts follow; the numbering keeps its gap (orders_seq stays),
-- so that user's listing pages by offset from then on.
CREATE FUNCTION "orders_after_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The users' rows before their counter rows (see orders_before_insert), in id order.
  IF TG_OP = 'DELETE' OR OLD.user_id IS DISTINCT FROM NEW.user_id THEN
    PERFORM 1 FROM users WHERE id IN (OLD.user_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.user_id END) ORDER BY id FOR NO KEY UPDATE;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    -- A payment (paid_at set) moves only the paid figures; the creation day's count moves with created_at only.
    PERFORM daily_stats_order(OLD, -1, OLD.created_at IS DISTINCT FROM NEW.created_at);
    PERFORM daily_stats_order(NEW, 1, OLD.created_at IS DISTINCT FROM NEW.created_at);
    IF OLD.user_id IS NOT DISTINCT FROM NEW.user_id AND OLD.customer_email IS NOT DISTINCT FROM NEW.customer_email THEN
      RETURN NULL;
    END IF;
    INSERT INTO user_counters AS c (user_id, orders) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET orders = c.orders + 1;
    IF NEW.customer_email IS NOT NULL THEN
      INSERT INTO email_order_counts AS e (email, orders) VALUES (NEW.customer_email, 1)
      ON CONFLICT (email) DO UPDATE SET orders = e.orders + 1;
    END IF;
  ELSE
    PERFORM daily_stats_order(OLD, -1, true);
  END IF;
  UPDATE user_counters SET orders = orders - 1 WHERE user_id = OLD.user_id;
  UPDATE email_order_counts SET orders = orders - 1 WHERE email = OLD.customer_email;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "orders_after_update" AFTER UPDATE OF user_id, customer_email, created_at, paid_at, paid_amount_fen,
  payment_method, kind, credits, credits_granted ON "orders" FOR EACH ROW
  WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.customer_email IS DISTINCT FROM NEW.customer_email
     OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.paid_at IS DISTINCT FROM NEW.paid_at
     OR OLD.paid_amount_fen IS DISTINCT FROM NEW.paid_amount_fen OR OLD.payment_method IS DISTINCT FROM NEW.payment_method
     OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.credits IS DISTINCT FROM NEW.credits
     OR OLD.credits_granted IS DISTINCT FROM NEW.credits_granted)
  EXECUTE FUNCTION orders_after_change();
--> statement-breakpoint
CREATE TRIGGER "orders_after_delete" AFTER DELETE ON "orders" FOR EACH ROW EXECUTE FUNCTION orders_after_change();
--> statement-breakpoint
-- Ledger rows: the user's count, and the credits consumed on the row's day.
CREATE FUNCTION "credit_ledger_after_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The users' rows before their counter rows (see orders_before_insert); the ledger's own writers hold them already.
  PERFORM 1 FROM users WHERE id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.user_id END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.user_id END)
    ORDER BY id FOR NO KEY UPDATE;
  IF TG_OP <> 'INSERT' THEN
    UPDATE user_counters SET ledger = ledger - 1 WHERE user_id = OLD.user_id;
    IF OLD.type = 'CONSUME' THEN PERFORM daily_stats_add(OLD.created_at, -1, 0, 0, 0, 0, 0, -OLD.delta); END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO user_counters AS c (user_id, ledger) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET ledger = c.ledger + 1;
    IF NEW.type = 'CONSUME' THEN PERFORM daily_stats_add(NEW.created_at, 1, 0, 0, 0, 0, 0, -NEW.delta); END IF;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "credit_ledger_after_insert" AFTER INSERT OR DELETE ON "credit_ledger" FOR EACH ROW
  EXECUTE FUNCTION credit_ledger_after_change();
--> statement-breakpoint
CREATE TRIGGER "credit_ledger_after_update" AFTER UPDATE OF user_id, type, delta, created_at ON "credit_ledger" FOR EACH ROW
  EXECUTE FUNCTION credit_ledger_after_change();
--> statement-breakpoint
-- Refunds: the amount of a refund through the provider, on the day it completed.
CREATE FUNCTION "refunds_after_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'SUCCEEDED' AND OLD.via = 'PROVIDER' AND OLD.completed_at IS NOT NULL THEN
    PERFORM daily_stats_add(OLD.completed_at, -1, 0, 0, 0, OLD.amount_fen, 0, 0);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'SUCCEEDED' AND NEW.via = 'PROVIDER' AND NEW.completed_at IS NOT NULL THEN
    PERFORM daily_stats_add(NEW.completed_at, 1, 0, 0, 0, NEW.amount_fen, 0, 0);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "refunds_after_change" AFTER INSERT OR UPDATE OF status, via, amount_fen, completed_at OR DELETE ON "refunds"
  FOR EACH ROW EXECUTE FUNCTION refunds_after_change();
--> statement-breakpoint
-- The history so far, into shard 0.
INSERT INTO "daily_stats" (day, shard, created, paid, revenue, refunded, credits_sold, credits_consumed)
SELECT day, 0, sum(created), sum(paid), sum(revenue), sum(refunded), sum(credits_sold), sum(credits_consumed) FROM (
  SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS created, 0 AS paid, 0 AS revenue, 0 AS refunded,
         0 AS credits_sold, 0 AS credits_consumed
    FROM "orders" GROUP BY 1
  UNION ALL
  SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date, 0, count(*),
         coalesce(sum(paid_amount_fen) FILTER (WHERE payment_method IS DISTINCT FROM 'CREDITS'), 0),
         0, coalesce(sum(credits) FILTER (WHERE kind = 'credits' AND credits_granted), 0), 0
    FROM "orders" WHERE paid_at IS NOT NULL GROUP BY 1
  UNION ALL
  SELECT (completed_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 0, 0, sum(amount_fen), 0, 0
    FROM "refunds" WHERE status = 'SUCCEEDED' AND via = 'PROVIDER' AND completed_at IS NOT NULL GROUP BY 1
  UNION ALL
  SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 0, 0, 0, 0, -sum(delta)
    FROM "credit_ledger" WHERE type = 'CONSUME' GROUP BY 1
) x GROUP BY day;
--> statement-breakpoint
-- 3. Admin search by date range pages newest first with the id as tie-break: with `id` in the index the page is read
--    in order from it, not sorted out of every order of the range.
DROP INDEX "orders_created_idx";
--> statement-breakpoint
CREATE INDEX "orders_created_idx" ON "orders" USING btree ("created_at", "id");
