"""Resolution in batches (indexer/resolve.py resolve_batches): bounded batches that drop
what they read give the answers of one batch that keeps everything, and the answers a
query-time Resolver (reading a module or class at a time) gives."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from coderows.indexer import resolve
from coderows.indexer.pipeline import index_repository
from coderows.indexer.resolve import RepoNames, Resolver, resolve_batches
from tests.test_references import SHOP, write_tree

Row = tuple[str, bool, str | None, list[str]]


def answers(conn: psycopg.Connection, root: Path) -> list[Row]:
    return conn.execute(
        "SELECT a.target, a.via_super, a.full_name, a.consulted FROM resolutions a JOIN repos r ON r.id = a.repo_id"
        " WHERE r.root = %s ORDER BY 1, 2",
        [str(root)],
    ).fetchall()


def test_batches_that_drop_what_they_read_answer_as_one_batch(
    tmp_path: Path, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path / "whole", SHOP)
    write_tree(tmp_path / "pieces", SHOP)
    index_repository(conn, tmp_path / "whole", jobs=1)
    monkeypatch.setattr(resolve, "BATCH_TARGETS", 3)
    monkeypatch.setattr(resolve, "MAX_KEPT_ROWS", 0)  # every batch reads again
    monkeypatch.setattr(resolve, "MAX_KEPT_ANSWERS", 0)
    index_repository(conn, tmp_path / "pieces", jobs=1)
    whole = answers(conn, (tmp_path / "whole").resolve())
    assert ("shop.Model().save", False, "shop.models.Model.save", ["shop", "shop.base", "shop.models"]) in whole
    assert answers(conn, (tmp_path / "pieces").resolve()) == whole


def test_batches_answer_as_a_resolver_that_reads_a_module_at_a_time(tmp_path: Path, conn: psycopg.Connection) -> None:
    write_tree(tmp_path / "r", SHOP)
    index_repository(conn, tmp_path / "r", jobs=1)
    repo_id = conn.execute("SELECT id FROM repos").fetchone()[0]
    targets = conn.execute("SELECT DISTINCT target, via_super FROM name_uses WHERE target IS NOT NULL").fetchall()
    batched = [row for rows in resolve_batches(conn, repo_id, targets) for row in rows]
    one_at_a_time = Resolver(RepoNames(conn, repo_id))
    expected = []
    for target, via_super in sorted(targets):
        full_name, consulted = one_at_a_time.resolve(target, via_super)
        expected.append((target, via_super, full_name, sorted(consulted)))
    assert sorted(batched) == sorted(expected)
    assert len(batched) == len(targets) == 21


def test_the_batch_reads_everything_before_it_is_answered(tmp_path: Path, conn: psycopg.Connection) -> None:
    write_tree(tmp_path / "r", SHOP)
    index_repository(conn, tmp_path / "r", jobs=1)
    repo_id = conn.execute("SELECT id FROM repos").fetchone()[0]
    names = RepoNames(conn, repo_id)
    targets = [("shop.Model().save", False), ("app.Special.total", True), ("shop.util.m.Order.clean", False)]
    names.prefetch(target for target, _ in targets)
    rows = Resolver(names).resolve_batch(targets)
    assert rows == [
        ("shop.Model().save", False, "shop.models.Model.save", ["shop", "shop.base", "shop.models"]),
        ("app.Special.total", True, "shop.models.Order.total", ["app", "app.Special", "shop", "shop.base", "shop.models"]),
        (
            "shop.util.m.Order.clean", False, "shop.base.Mixin.clean",
            ["shop.base", "shop.models", "shop.models.Order", "shop.util", "shop.util.m", "shop.util.m.Order"],
        ),
    ]
    names.exploring = True  # from here, a lookup of rows not read yet raises Missing
    assert resolve.resolve_all(Resolver(names), targets) == rows


def test_prefetch_reads_the_class_a_module_names_in_a_target_and_every_class_above_it(
    tmp_path: Path, conn: psycopg.Connection
) -> None:
    # Exploring would otherwise walk the target again for each level of Order's bases.
    write_tree(tmp_path / "r", SHOP)
    index_repository(conn, tmp_path / "r", jobs=1)
    names = RepoNames(conn, conn.execute("SELECT id FROM repos").fetchone()[0])
    names.prefetch(["shop.models.Order.clean"])
    names.exploring = True  # from here, a lookup of rows not read yet raises Missing
    full_name, consulted = Resolver(names).resolve("shop.models.Order.clean")
    assert (full_name, sorted(consulted)) == ("shop.base.Mixin.clean", ["shop.base", "shop.models", "shop.models.Order"])
