-- Version 10: a smaller database (issue 18). content_definitions' indexes of qualname and
-- full_name become hash indexes (every reader asks for them by equality). schema.sql has
-- just run: where an index was missing (left deferred by a killed bulk load) it created
-- the hash index already; made again here either way.
DROP INDEX coderows.content_definitions_qualname_idx;
CREATE INDEX content_definitions_qualname_idx ON coderows.content_definitions USING hash (qualname);
DROP INDEX coderows.content_definitions_full_name_idx;
-- On the expression of version 13, which stores no full_name (schema.sql, run before this,
-- made content_definitions without it in a database of version 4 or older).
CREATE INDEX content_definitions_full_name_idx ON coderows.content_definitions USING hash ((module || '.' || qualname));
