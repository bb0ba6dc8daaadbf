-- Provider events processed, by the provider's own event id (a replayed event is a DUPLICATE and changes nothing).
CREATE TABLE "provider_events" (
	"provider" text NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text,
	"out_trade_no" text,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "provider_events_provider_event_id_pk" PRIMARY KEY("provider","event_id")
);--> statement-breakpoint
CREATE INDEX "provider_events_processed_at_idx" ON "provider_events" USING btree ("processed_at");--> statement-breakpoint
-- The provider's own id of the payment it made for an attempt (a Checkout Session's cs_…), asked by it later.
ALTER TABLE "payment_attempts" ADD COLUMN "provider_ref" text;
