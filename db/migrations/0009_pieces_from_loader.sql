-- Version 9: the loader writes each content's pieces in content_chunks itself (COPY, made
-- in the worker that parsed the file: indexer/encode.py's pieces_copy_text), instead of a
-- statement trigger splitting every new source again in SQL; schema.sql no longer has the
-- trigger, and an older database loses it here. The pieces already written stay as they
-- are: the loader's are the same rows. schema.sql, run before this file, has also created
-- deferred_indexes (indexer/load.py, defer_indexes), empty: nothing to do for it here.
DROP TRIGGER IF EXISTS contents_chunked ON coderows.contents;
DROP FUNCTION IF EXISTS coderows.chunk_new_contents();
