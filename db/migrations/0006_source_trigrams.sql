-- Version 6: a trigram index over file sources, so that search_code's ILIKE finds its
-- candidate files through the index instead of reading every source (schema.sql says the same).
CREATE INDEX IF NOT EXISTS contents_source_trgm_idx ON coderows.contents USING gin (source coderows.gin_trgm_ops);
