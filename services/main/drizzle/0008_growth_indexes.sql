-- Cost growth (issue 19): reads that scanned the whole orders / ledger history, measured by `pnpm bench:growth`.
-- A page of a user's orders (order history) or of an email's (admin search), newest first, and its count, found in
-- the index alone: with `id` (the order's tie-break) a deep page skips index entries, not table rows.
DROP INDEX "orders_user_created_idx";
--> statement-breakpoint
CREATE INDEX "orders_user_created_idx" ON "orders" USING btree ("user_id", "created_at", "id");
--> statement-breakpoint
CREATE INDEX "orders_customer_email_created_idx" ON "orders" USING btree ("customer_email", "created_at", "id");
--> statement-breakpoint
-- Daily stats: the payments of the days asked for, not every paid order ever.
CREATE INDEX "orders_paid_at_idx" ON "orders" USING btree ("paid_at") WHERE "paid_at" IS NOT NULL;
--> statement-breakpoint
-- Daily stats: the credits consumed during the days asked for.
CREATE INDEX "credit_ledger_consume_created_idx" ON "credit_ledger" USING btree ("created_at") WHERE "type" = 'CONSUME';
