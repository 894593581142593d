-- Server configuration store, version 1 (PostgreSQL).
-- Identifiers are kept in their parts; an absent subsystem code is stored as ''.

CREATE TABLE conf_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO conf_version (id, version) VALUES (1, 0);

CREATE TABLE server (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    instance TEXT NOT NULL,
    member_class TEXT NOT NULL,
    member_code TEXT NOT NULL,
    server_code TEXT NOT NULL,
    anchor TEXT
);

CREATE TABLE client (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance TEXT NOT NULL,
    member_class TEXT NOT NULL,
    member_code TEXT NOT NULL,
    subsystem_code TEXT NOT NULL DEFAULT '',
    is_authentication TEXT NOT NULL,
    UNIQUE (instance, member_class, member_code, subsystem_code)
);

CREATE TABLE client_certificate (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    der BYTEA NOT NULL
);

CREATE TABLE service_description (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    disabled_notice TEXT,
    refreshed_at TEXT,
    UNIQUE (client_id, url)
);

CREATE TABLE service (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    description_id BIGINT NOT NULL REFERENCES service_description (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL,
    service_version TEXT NOT NULL DEFAULT '',
    title TEXT,
    url TEXT,
    timeout_seconds BIGINT NOT NULL,
    ssl_authentication BOOLEAN
);

CREATE TABLE endpoint (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    generated BOOLEAN NOT NULL
);

CREATE TABLE local_group (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    group_code TEXT NOT NULL,
    description TEXT NOT NULL,
    UNIQUE (client_id, group_code)
);

CREATE TABLE local_group_member (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id BIGINT NOT NULL REFERENCES local_group (id) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    member_class TEXT NOT NULL,
    member_code TEXT NOT NULL,
    subsystem_code TEXT NOT NULL DEFAULT ''
);

-- subject_type: MEMBER, SUBSYSTEM, GLOBALGROUP, LOCALGROUP; unused parts are ''.
CREATE TABLE access_right (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    instance TEXT NOT NULL,
    member_class TEXT NOT NULL,
    member_code TEXT NOT NULL,
    subsystem_code TEXT NOT NULL,
    group_code TEXT NOT NULL
);
CREATE INDEX access_right_client ON access_right (client_id, service_code);
