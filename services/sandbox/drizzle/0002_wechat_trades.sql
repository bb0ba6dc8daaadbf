CREATE TABLE "wechat_refunds" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"trade_id" text NOT NULL,
	"mchid" text NOT NULL,
	"out_refund_no" text NOT NULL,
	"refund_id" text NOT NULL,
	"refund" bigint NOT NULL,
	"total" bigint NOT NULL,
	"reason" text,
	"status" text DEFAULT 'SUCCESS' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"success_time" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "wechat_trades" (
	"id" text PRIMARY KEY NOT NULL,
	"appid" text NOT NULL,
	"mchid" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"transaction_id" text NOT NULL,
	"trade_type" text NOT NULL,
	"trade_state" text DEFAULT 'NOTPAY' NOT NULL,
	"description" text NOT NULL,
	"attach" text,
	"notify_url" text NOT NULL,
	"total" bigint NOT NULL,
	"refunded" bigint DEFAULT 0 NOT NULL,
	"payer_openid" text,
	"payer_client_ip" text,
	"code_url" text,
	"qr_token" text,
	"prepay_id" text,
	"redirect_url" text,
	"time_expire" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paid_at" timestamp with time zone,
	"closed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "wechat_refunds" ADD CONSTRAINT "wechat_refunds_trade_id_wechat_trades_id_fk" FOREIGN KEY ("trade_id") REFERENCES "public"."wechat_trades"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_refunds_out_refund_no_uq" ON "wechat_refunds" USING btree ("mchid","out_refund_no");--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_refunds_refund_id_uq" ON "wechat_refunds" USING btree ("refund_id");--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_trades_out_trade_no_uq" ON "wechat_trades" USING btree ("mchid","out_trade_no");--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_trades_transaction_id_uq" ON "wechat_trades" USING btree ("transaction_id");--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_trades_qr_token_uq" ON "wechat_trades" USING btree ("qr_token");--> statement-breakpoint
CREATE UNIQUE INDEX "wechat_trades_prepay_id_uq" ON "wechat_trades" USING btree ("prepay_id");