-- ABNORMAL: a refund the provider accepted but holds until a person finishes it (not final, amount reserved).
ALTER TABLE "refunds" DROP CONSTRAINT "refunds_status_ck";--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_status_ck" CHECK ("refunds"."status" in ('PENDING', 'SUCCEEDED', 'ABNORMAL', 'FAILED'));
