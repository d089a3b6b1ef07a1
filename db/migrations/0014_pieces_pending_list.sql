-- Version 14: the pieces' trigram index keeps a pending list of 64 MB (schema.sql says
-- why). An index a bulk load has dropped for now (listed in deferred_indexes) is rebuilt
-- from the definition listed there: it gets the setting too.
ALTER INDEX IF EXISTS coderows.content_chunks_text_trgm_idx SET (gin_pending_list_limit = 65536);
UPDATE coderows.deferred_indexes SET definition = definition || ' WITH (gin_pending_list_limit=''65536'')'
WHERE name = 'content_chunks_text_trgm_idx' AND definition NOT LIKE '% WITH (%';
