-- 0004: name_uses no longer repeats what modules and definitions hold (module, path, the
-- enclosing definition's full_name): the usages view joins them. The schema.sql of
-- version 4 had just redefined the view; a newer schema.sql leaves the views of an older
-- database alone, so views still reading these columns go with them (CASCADE), and
-- migration 0005 creates every view anew. A version-1 database has no name_uses yet.
ALTER TABLE IF EXISTS coderows.name_uses
    DROP COLUMN IF EXISTS module CASCADE,
    DROP COLUMN IF EXISTS path CASCADE,
    DROP COLUMN IF EXISTS source_full_name CASCADE;
