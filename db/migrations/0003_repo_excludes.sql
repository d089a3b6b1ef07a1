-- 0003: repos remember the --exclude patterns they were last indexed with.
ALTER TABLE coderows.repos ADD COLUMN IF NOT EXISTS excludes text[] NOT NULL DEFAULT '{}';
