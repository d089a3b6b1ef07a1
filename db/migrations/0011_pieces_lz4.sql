-- Version 11: content_chunks.text is compressed with lz4 where the server has it (schema.sql,
-- which has just run, set it: search_code decompresses a common text's pieces by the
-- thousand, lz4 several times faster than pglz). The pieces already written keep pglz until
-- their content is written again: rewriting them all here would hold up the first
-- connection for as long as a reindex of the pieces takes.
SELECT 1;
