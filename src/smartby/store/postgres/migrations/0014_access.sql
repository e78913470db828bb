-- Access control (docs/security.md): API keys, kept as a salted SHA-256 of the key, looked up by
-- the key's public part (`key_id`); `tenants` is a JSON list of tenant names. The owner of each
-- subscription made with authentication on (the key's name or the token's subject).
CREATE TABLE api_key (
    name text PRIMARY KEY,
    key_id text NOT NULL UNIQUE,
    key_hash text NOT NULL,
    owner text NOT NULL,
    tenants text NOT NULL,
    role text NOT NULL,
    created_at text NOT NULL,
    expires_at text,
    last_used text,
    revoked_at text
);

CREATE TABLE subscription_owner (
    tenant text NOT NULL,
    subscription_id text NOT NULL,
    owner text NOT NULL,
    PRIMARY KEY (tenant, subscription_id)
);
