-- Version 7: search_code reads pieces of 64 lines (content_chunks, with its trigram index)
-- instead of whole sources (schema.sql says why). schema.sql has just created the table,
-- empty or holding the pieces of contents written since (a version-4 database's contents
-- are written by migration 0005, under the trigger): make it hold every content's pieces
-- once, and drop the trigram index over whole sources that nothing reads any more.
TRUNCATE coderows.content_chunks;
INSERT INTO coderows.content_chunks (content_id, first_line, text)
SELECT c.id, s.first_line, s.text FROM coderows.contents c, coderows.source_chunks(c.source) s;
DROP INDEX IF EXISTS coderows.contents_source_trgm_idx;
