-- 0004: name_uses no longer repeats what modules and definitions hold (module, path, the
-- enclosing definition's full_name): the usages view joins them. schema.sql has just
-- redefined the view, so nothing depends on these columns any more.
ALTER TABLE coderows.name_uses
    DROP COLUMN IF EXISTS module,
    DROP COLUMN IF EXISTS path,
    DROP COLUMN IF EXISTS source_full_name;
