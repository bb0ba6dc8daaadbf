-- The stale-attempt sweep's claim (last_queried_at) and a resent DEAD event's new retry window (resent_at).
ALTER TABLE "outbox" ADD COLUMN "resent_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payment_attempts" ADD COLUMN "last_queried_at" timestamp with time zone;