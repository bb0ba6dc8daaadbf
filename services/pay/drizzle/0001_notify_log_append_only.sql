-- notify_log is evidence of what providers sent us: rows are only ever appended.
CREATE OR REPLACE FUNCTION notify_log_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'notify_log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER notify_log_no_update_delete
  BEFORE UPDATE OR DELETE ON "notify_log"
  FOR EACH ROW EXECUTE FUNCTION notify_log_append_only();
