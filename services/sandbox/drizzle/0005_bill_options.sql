CREATE TABLE "bill_formats" (
	"provider" text PRIMARY KEY NOT NULL,
	"bom" boolean DEFAULT false NOT NULL,
	"layout" text DEFAULT 'CURRENT' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bill_formats_layout_ck" CHECK ("bill_formats"."layout" in ('CURRENT', 'LEGACY'))
);
--> statement-breakpoint
CREATE TABLE "bill_coupons" (
	"provider" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"amount" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bill_coupons_provider_out_trade_no_pk" PRIMARY KEY("provider","out_trade_no"),
	CONSTRAINT "bill_coupons_amount_ck" CHECK ("bill_coupons"."amount" > 0)
);
