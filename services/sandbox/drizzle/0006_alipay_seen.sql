ALTER TABLE "alipay_trades" ADD COLUMN "seen_at" timestamp with time zone;--> statement-breakpoint
-- Trades from before: as seen (they were visible when made).
UPDATE "alipay_trades" SET "seen_at" = "created_at";