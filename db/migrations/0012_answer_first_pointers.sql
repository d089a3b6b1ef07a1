-- Version 12: a smaller database (issue 18). repo_answers' primary key starts with
-- answer_id, which every reader comes from, and so also serves what the index on answer_id
-- alone served: that index goes.
ALTER TABLE coderows.repo_answers DROP CONSTRAINT repo_answers_pkey, ADD PRIMARY KEY (answer_id, repo_id);
DROP INDEX IF EXISTS coderows.repo_answers_answer_id_idx;
