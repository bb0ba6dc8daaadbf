-- One provider trade number per attempt (existing rows keep theirs: the orderNo).
DROP INDEX "payment_attempts_order_channel_uq";--> statement-breakpoint
ALTER TABLE "payment_attempts" ADD COLUMN "out_trade_no" text;--> statement-breakpoint
UPDATE "payment_attempts" SET "out_trade_no" = "order_no";--> statement-breakpoint
ALTER TABLE "payment_attempts" ALTER COLUMN "out_trade_no" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "payment_attempts_trade_uq" ON "payment_attempts" USING btree ("out_trade_no","provider","channel");--> statement-breakpoint
CREATE UNIQUE INDEX "payment_attempts_pending_channel_uq" ON "payment_attempts" USING btree ("order_no","provider","channel") WHERE "payment_attempts"."status" = 'PENDING';
