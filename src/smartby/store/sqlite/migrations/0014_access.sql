-- Access control (docs/security.md): API keys, kept as a salted SHA-256 of the key, looked up by
-- the key's public part (`key_id`); `tenants` is a JSON list of tenant names. The owner of each
-- subscription made with authentication on (the key's name or the token's subject).
CREATE TABLE api_key (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    tenants TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used TEXT,
    revoked_at TEXT
);

CREATE TABLE subscription_owner (
    tenant TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (tenant, subscription_id)
);
