-- Dashboard sessions kept on the server, so signing out, ending an account's sessions or
-- changing its password ends them on every daemon. The cookie holds a random id; only its
-- SHA-256 is stored. `credential` is the SHA-256 of the password hash the session was opened
-- with: a new hash in `dashboard.users` ends the sessions of the old one.
CREATE TABLE dashboard_sessions (
    id_sha256  BYTEA PRIMARY KEY,
    user_name  TEXT NOT NULL,
    credential BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_name);

-- Wrong passwords in a row per configured account, and until when it refuses sign-in.
CREATE TABLE dashboard_sign_in_failures (
    user_name    TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ
);
