-- Bumped by every change to budgets or policies, so that daemons sharing one database notice
-- a change made by another one before they admit the next allocation.
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
