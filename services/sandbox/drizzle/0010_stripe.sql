CREATE TABLE "stripe_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"payment_id" text NOT NULL,
	"client_reference_id" text,
	"amount_total" bigint NOT NULL,
	"currency" text NOT NULL,
	"product_name" text NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"payment_status" text DEFAULT 'unpaid' NOT NULL,
	"success_url" text,
	"cancel_url" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"pi_metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"pi_description" text,
	"payment_intent" text,
	"charge" text,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paid_at" timestamp with time zone,
	"expired_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "stripe_sessions_payment_id_uq" ON "stripe_sessions" USING btree ("payment_id");--> statement-breakpoint
CREATE UNIQUE INDEX "stripe_sessions_payment_intent_uq" ON "stripe_sessions" USING btree ("payment_intent");--> statement-breakpoint
CREATE INDEX "stripe_sessions_created_idx" ON "stripe_sessions" USING btree ("created_at");--> statement-breakpoint
CREATE TABLE "stripe_refunds" (
	"id" text PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"payment_intent" text NOT NULL,
	"charge" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_balance_transactions" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"source" text NOT NULL,
	"amount" bigint NOT NULL,
	"fee" bigint NOT NULL,
	"currency" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stripe_balance_transactions_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "stripe_idempotency" (
	"key" text PRIMARY KEY NOT NULL,
	"route" text NOT NULL,
	"params_hash" text NOT NULL,
	"status" integer,
	"body" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
