CREATE TABLE "notify_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"out_trade_no" text,
	"raw_body" text NOT NULL,
	"content_type" text,
	"remote_ip" text,
	"verdict" text NOT NULL,
	"reason" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notify_log_verdict_ck" CHECK ("notify_log"."verdict" in ('ACCEPTED', 'REJECTED', 'DUPLICATE', 'IGNORED'))
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid NOT NULL,
	"event_type" text NOT NULL,
	"payment_attempt_id" uuid,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "outbox_event_id_unique" UNIQUE("event_id"),
	CONSTRAINT "outbox_status_ck" CHECK ("outbox"."status" in ('PENDING', 'DELIVERED', 'DEAD'))
);
--> statement-breakpoint
CREATE TABLE "payment_attempts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"order_id" bigint NOT NULL,
	"order_no" text NOT NULL,
	"provider" text NOT NULL,
	"channel" text NOT NULL,
	"amount" bigint NOT NULL,
	"subject" text NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"trade_no" text,
	"paid_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"expire_at" timestamp with time zone,
	"qr_code" text,
	"paid_via" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_attempts_status_ck" CHECK ("payment_attempts"."status" in ('PENDING', 'PAID', 'CLOSED', 'FAILED', 'REFUNDED')),
	CONSTRAINT "payment_attempts_amount_ck" CHECK ("payment_attempts"."amount" > 0),
	CONSTRAINT "payment_attempts_paid_ck" CHECK ("payment_attempts"."status" <> 'PAID' or ("payment_attempts"."trade_no" is not null and "payment_attempts"."paid_at" is not null))
);
--> statement-breakpoint
CREATE TABLE "service_nonces" (
	"key_id" text NOT NULL,
	"nonce" text NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "service_nonces_key_id_nonce_pk" PRIMARY KEY("key_id","nonce")
);
--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_payment_attempt_id_payment_attempts_id_fk" FOREIGN KEY ("payment_attempt_id") REFERENCES "public"."payment_attempts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notify_log_out_trade_no_idx" ON "notify_log" USING btree ("out_trade_no");--> statement-breakpoint
CREATE INDEX "notify_log_received_at_idx" ON "notify_log" USING btree ("received_at");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_attempt_event_uq" ON "outbox" USING btree ("payment_attempt_id","event_type");--> statement-breakpoint
CREATE INDEX "outbox_due_idx" ON "outbox" USING btree ("next_attempt_at") WHERE "outbox"."status" = 'PENDING';--> statement-breakpoint
CREATE UNIQUE INDEX "payment_attempts_order_channel_uq" ON "payment_attempts" USING btree ("order_no","provider","channel");--> statement-breakpoint
CREATE INDEX "payment_attempts_order_no_idx" ON "payment_attempts" USING btree ("order_no");--> statement-breakpoint
CREATE INDEX "payment_attempts_pending_idx" ON "payment_attempts" USING btree ("created_at") WHERE "payment_attempts"."status" = 'PENDING';--> statement-breakpoint
CREATE INDEX "service_nonces_seen_at_idx" ON "service_nonces" USING btree ("seen_at");