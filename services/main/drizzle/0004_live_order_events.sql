-- Live order status (issue 18): every change a browser may be waiting for is published on the
-- `order_events` channel by the database itself, in the transaction that makes it (NOTIFY is delivered
-- at commit, never for a rolled-back change), so no code path that changes orders or refunds has to
-- remember to publish. Each main instance LISTENs on one connection and re-reads the order's state.
CREATE FUNCTION "live_notify_order_event"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'refunds' THEN
    PERFORM pg_notify('order_events', json_build_object('id', NEW.order_id)::text);
  ELSE
    PERFORM pg_notify('order_events', json_build_object('id', NEW.id)::text);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "orders_live_notify" AFTER UPDATE ON "orders" FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.paid_at IS DISTINCT FROM NEW.paid_at
    OR OLD.credits_granted IS DISTINCT FROM NEW.credits_granted
    OR OLD.late_payment IS DISTINCT FROM NEW.late_payment
    OR OLD.refunded_amount_fen IS DISTINCT FROM NEW.refunded_amount_fen
    OR OLD.delivery_status IS DISTINCT FROM NEW.delivery_status)
  EXECUTE FUNCTION "live_notify_order_event"();
--> statement-breakpoint
CREATE TRIGGER "refunds_live_notify" AFTER INSERT OR UPDATE OF "status" ON "refunds" FOR EACH ROW
  EXECUTE FUNCTION "live_notify_order_event"();
--> statement-breakpoint
-- Short-lived single-order tickets for EventSource / WebSocket URLs (a browser cannot send the bearer
-- token there, and a JWT in a URL would be logged). Only the SHA-256 of the ticket is stored; a ticket
-- is consumed by the first connection that presents it (DELETE … RETURNING), on any instance.
CREATE TABLE "live_tickets" (
	"ticket_hash" text PRIMARY KEY NOT NULL,
	"order_id" bigint NOT NULL REFERENCES "orders"("id") ON DELETE CASCADE,
	"user_id" bigint NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "live_tickets_expires_idx" ON "live_tickets" USING btree ("expires_at");
