ALTER TABLE "payment_attempts" ADD COLUMN "provider_expire_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payment_attempts" ADD COLUMN "close_unconfirmed" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "kind" text DEFAULT 'REQUESTED' NOT NULL;--> statement-breakpoint
CREATE INDEX "payment_attempts_close_unconfirmed_idx" ON "payment_attempts" USING btree ("created_at") WHERE "payment_attempts"."close_unconfirmed";--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_duplicate_payment_uq" ON "refunds" USING btree ("payment_attempt_id") WHERE "refunds"."kind" = 'DUPLICATE_PAYMENT';--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_kind_ck" CHECK ("refunds"."kind" in ('REQUESTED', 'DUPLICATE_PAYMENT'));