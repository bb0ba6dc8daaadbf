ALTER TABLE "stripe_sessions" ADD COLUMN "payment_method_types" jsonb DEFAULT '["card"]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "stripe_sessions" ADD COLUMN "wechat_pay_client" text;
