CREATE TABLE "epay_trades" (
	"id" text PRIMARY KEY NOT NULL,
	"pid" text NOT NULL,
	"trade_no" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"type" text NOT NULL,
	"status" integer DEFAULT 0 NOT NULL,
	"money" bigint NOT NULL,
	"refunded_money" bigint DEFAULT 0 NOT NULL,
	"name" text NOT NULL,
	"notify_url" text NOT NULL,
	"return_url" text,
	"param" text,
	"sitename" text,
	"clientip" text,
	"device" text,
	"api" text NOT NULL,
	"qr_token" text,
	"money_style" text DEFAULT 'fixed' NOT NULL,
	"buyer" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paid_at" timestamp with time zone,
	"closed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "epay_trades_out_trade_no_uq" ON "epay_trades" USING btree ("pid","out_trade_no");--> statement-breakpoint
CREATE UNIQUE INDEX "epay_trades_trade_no_uq" ON "epay_trades" USING btree ("trade_no");--> statement-breakpoint
CREATE UNIQUE INDEX "epay_trades_qr_token_uq" ON "epay_trades" USING btree ("qr_token");