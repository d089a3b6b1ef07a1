-- Version 8: a smaller database (issue 18). schema.sql has just run: on a server with lz4
-- it made contents.source compressed for the rows written from now on (the rows already
-- there keep their form until a file changes). Here: the index on (module, qualname)
-- becomes one on module alone (`pkg.mod:Qual.name` is looked up by its full name now),
-- and the index of answers' targets a hash index (equality is all its readers ask).
DROP INDEX coderows.content_definitions_module_idx;
CREATE INDEX content_definitions_module_idx ON coderows.content_definitions (module);
DROP INDEX coderows.answers_target_idx;
CREATE INDEX answers_target_idx ON coderows.answers USING hash (target);
