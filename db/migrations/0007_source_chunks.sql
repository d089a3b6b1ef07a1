-- Version 7: search_code reads pieces of 64 lines (content_chunks, with its trigram index)
-- instead of whole sources (schema.sql says why). schema.sql has just created the table,
-- empty or holding the pieces of contents written since (a version-4 database's contents
-- are written by migration 0005, under the trigger): make it hold every content's pieces
-- once, and drop the trigram index over whole sources that nothing reads any more. The
-- pieces' index is built after they are written: one sort instead of an insert per piece.
DROP INDEX coderows.content_chunks_text_trgm_idx;
TRUNCATE coderows.content_chunks;
INSERT INTO coderows.content_chunks (content_id, first_line, text)
SELECT c.id, s.first_line, s.text FROM coderows.contents c, coderows.source_chunks(c.source) s;
CREATE INDEX content_chunks_text_trgm_idx ON coderows.content_chunks USING gin (text coderows.gin_trgm_ops);
DROP INDEX IF EXISTS coderows.contents_source_trgm_idx;
