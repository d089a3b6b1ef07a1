-- Version 15: each content records the version of the parser that made its rows
-- (contents.parser_version, indexer/parser_version.py), so that rows an older coderows made
-- are parsed again rather than kept while the file's bytes stay the same. Which parser made
-- the rows written before is not known: they get 0, so each repository's next index run,
-- watcher or server start parses its files once more (the time of a full index), or shares
-- them from a repository that already did; none of the old contents is shared meanwhile.
-- schema.sql gives a database made from it the same column.
ALTER TABLE coderows.contents ADD COLUMN IF NOT EXISTS parser_version smallint NOT NULL DEFAULT 0;
