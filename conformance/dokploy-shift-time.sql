-- Makes every time a Dokploy v0.10.5–v0.15 keeps about auth :seconds older, for
-- `dokploy-auth-conformance run --shift-time-cmd`: session expiries (cookies and API
-- tokens), invitation expiries, reset and confirmation expiries, creation times.
-- One transaction. Run it with the seconds as a psql variable:
--   psql "$DOKPLOY_DATABASE_URL" -v ON_ERROR_STOP=1 -v seconds={seconds} -f dokploy-shift-time.sql
-- server/tests/postgres.rs runs it against Dokploy's tables (the reference's §7).
BEGIN;
UPDATE session SET expires_at = expires_at - make_interval(secs => :seconds);
UPDATE "user" SET "expirationDate" = "expirationDate" - make_interval(secs => :seconds);
-- The text columns hold ISO-8601 in UTC with milliseconds, as JavaScript writes them.
CREATE FUNCTION pg_temp.older(t text, seconds bigint) RETURNS text AS $$
  SELECT CASE WHEN t IS NULL OR t = '' THEN t ELSE
    to_char((t::timestamptz - make_interval(secs => seconds)) AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END
$$ LANGUAGE sql IMMUTABLE;
UPDATE auth SET "createdAt" = pg_temp.older("createdAt", :seconds),
  "resetPasswordExpiresAt" = pg_temp.older("resetPasswordExpiresAt", :seconds),
  "confirmationExpiresAt" = pg_temp.older("confirmationExpiresAt", :seconds);
UPDATE admin SET "createdAt" = pg_temp.older("createdAt", :seconds);
UPDATE "user" SET "createdAt" = pg_temp.older("createdAt", :seconds);
COMMIT;
