CREATE TABLE "reconciliation_differences" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"bill_day" text NOT NULL,
	"class" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"refund_no" text DEFAULT '' NOT NULL,
	"trade_no" text,
	"payment_attempt_id" uuid,
	"order_no" text,
	"bill_amount" bigint,
	"local_amount" bigint,
	"bill_fee" bigint,
	"bill_status" text,
	"local_status" text,
	"detail" text NOT NULL,
	"status" text DEFAULT 'OPEN' NOT NULL,
	"first_run_id" bigint NOT NULL,
	"last_run_id" bigint NOT NULL,
	"resolution_note" text,
	"resolved_by" text,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reconciliation_differences_status_ck" CHECK ("reconciliation_differences"."status" in ('OPEN', 'RESOLVED', 'REPAIRED', 'GONE'))
);
--> statement-breakpoint
CREATE TABLE "reconciliation_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"bill_day" text NOT NULL,
	"status" text DEFAULT 'RUNNING' NOT NULL,
	"trigger" text NOT NULL,
	"error" text,
	"source" text,
	"bill_rows" integer DEFAULT 0 NOT NULL,
	"matched" integer DEFAULT 0 NOT NULL,
	"differences" integer DEFAULT 0 NOT NULL,
	"repaired" integer DEFAULT 0 NOT NULL,
	"bill_payment_total" bigint DEFAULT 0 NOT NULL,
	"bill_refund_total" bigint DEFAULT 0 NOT NULL,
	"bill_fee_total" bigint DEFAULT 0 NOT NULL,
	"local_payment_total" bigint DEFAULT 0 NOT NULL,
	"local_refund_total" bigint DEFAULT 0 NOT NULL,
	"by_class" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "reconciliation_runs_status_ck" CHECK ("reconciliation_runs"."status" in ('RUNNING', 'SUCCEEDED', 'FAILED'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "reconciliation_differences_uq" ON "reconciliation_differences" USING btree ("provider","bill_day","class","out_trade_no","refund_no");--> statement-breakpoint
CREATE INDEX "reconciliation_differences_open_idx" ON "reconciliation_differences" USING btree ("created_at") WHERE "reconciliation_differences"."status" = 'OPEN';--> statement-breakpoint
CREATE INDEX "reconciliation_runs_day_idx" ON "reconciliation_runs" USING btree ("provider","bill_day");