CREATE TABLE "bill_amount_overrides" (
	"provider" text NOT NULL,
	"out_trade_no" text NOT NULL,
	"amount" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bill_amount_overrides_provider_out_trade_no_pk" PRIMARY KEY("provider","out_trade_no")
);
--> statement-breakpoint
CREATE TABLE "bill_faults" (
	"provider" text PRIMARY KEY NOT NULL,
	"mode" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bill_files" (
	"token" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"bill_date" text NOT NULL,
	"file_name" text NOT NULL,
	"content_type" text NOT NULL,
	"content" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "bill_files_expires_idx" ON "bill_files" USING btree ("expires_at");