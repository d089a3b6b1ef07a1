-- 0002: cross-references (name_uses, resolutions). schema.sql has just created the new
-- tables; files indexed before them hold no uses, so every file is read and parsed again
-- by the next index run (a stat of -1 never matches the disk, an empty hash no content).
UPDATE coderows.modules SET mtime_ns = -1, content_hash = '';
