ALTER TABLE "wechat_refunds" ADD COLUMN "notify_url" text;
