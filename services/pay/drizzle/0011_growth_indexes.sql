-- Cost growth (issue 19): a reconciliation day reads the attempts created or paid during that day, not the whole
-- history (`pnpm bench:growth` measured a day of 1,000 trades cost 4× more at 100k attempts than at 2k).
CREATE INDEX "payment_attempts_provider_created_idx" ON "payment_attempts" USING btree ("provider", "created_at");
--> statement-breakpoint
CREATE INDEX "payment_attempts_provider_paid_idx" ON "payment_attempts" USING btree ("provider", "paid_at") WHERE "paid_at" IS NOT NULL;
