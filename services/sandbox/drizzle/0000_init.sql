CREATE TABLE "alipay_refunds" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"trade_id" text NOT NULL,
	"out_request_no" text NOT NULL,
	"refund_amount" bigint NOT NULL,
	"refunded_total" bigint NOT NULL,
	"refund_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alipay_trades" (
	"id" text PRIMARY KEY NOT NULL,
	"app_id" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"trade_no" text NOT NULL,
	"channel" text NOT NULL,
	"status" text DEFAULT 'WAIT_BUYER_PAY' NOT NULL,
	"total_amount" bigint NOT NULL,
	"refunded_amount" bigint DEFAULT 0 NOT NULL,
	"subject" text NOT NULL,
	"body" text,
	"notify_url" text,
	"return_url" text,
	"qr_code" text,
	"qr_token" text,
	"buyer_id" text,
	"buyer_logon_id" text,
	"expire_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paid_at" timestamp with time zone,
	"closed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "notify_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"delivery_id" bigint NOT NULL,
	"provider" text NOT NULL,
	"reference" text,
	"attempt" integer NOT NULL,
	"status" integer,
	"response_body" text,
	"error" text,
	"duration_ms" integer NOT NULL,
	"sent_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notify_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"kind" text NOT NULL,
	"reference" text,
	"method" text DEFAULT 'POST' NOT NULL,
	"url" text NOT NULL,
	"headers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"body" text,
	"state" text DEFAULT 'PENDING' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "alipay_refunds" ADD CONSTRAINT "alipay_refunds_trade_id_alipay_trades_id_fk" FOREIGN KEY ("trade_id") REFERENCES "public"."alipay_trades"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notify_attempts" ADD CONSTRAINT "notify_attempts_delivery_id_notify_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."notify_deliveries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "alipay_refunds_request_uq" ON "alipay_refunds" USING btree ("trade_id","out_request_no");--> statement-breakpoint
CREATE UNIQUE INDEX "alipay_trades_out_trade_no_uq" ON "alipay_trades" USING btree ("app_id","out_trade_no");--> statement-breakpoint
CREATE UNIQUE INDEX "alipay_trades_trade_no_uq" ON "alipay_trades" USING btree ("trade_no");--> statement-breakpoint
CREATE UNIQUE INDEX "alipay_trades_qr_code_uq" ON "alipay_trades" USING btree ("qr_code");--> statement-breakpoint
CREATE UNIQUE INDEX "alipay_trades_qr_token_uq" ON "alipay_trades" USING btree ("qr_token");--> statement-breakpoint
CREATE INDEX "notify_attempts_reference_idx" ON "notify_attempts" USING btree ("provider","reference","id");--> statement-breakpoint
CREATE INDEX "notify_deliveries_due_idx" ON "notify_deliveries" USING btree ("next_attempt_at") WHERE "notify_deliveries"."state" = 'PENDING';--> statement-breakpoint
CREATE INDEX "notify_deliveries_reference_idx" ON "notify_deliveries" USING btree ("provider","reference");