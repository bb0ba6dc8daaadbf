-- The buyer's method (ALIPAY, BANK_CARD, …) and the provider that took the money (EPAY for a BANK_CARD order)
-- are two facts: a paid order used to have its method overwritten by the provider.
ALTER TABLE "orders" ADD COLUMN "payment_provider" text;
