"""The `coderows` command: a thin shell over the indexer, the query layer and the server.

Every command prints its result on stdout and, on failure, one line on stderr with a
non-zero exit code. The database is --database-url, else CODEROWS_DATABASE_URL, else the
embedded server (started on first use, shared by every later command).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import click

# psycopg, the indexer and the server are imported by the commands that use them:
# importing them all would cost `coderows --help` several times its own work.
if TYPE_CHECKING:
    import psycopg
    from rich.progress import Progress, TaskID

F = TypeVar("F", bound=Callable[..., Any])
SQL_ROW_LIMIT = 10_000
SQL_MAX_BYTES = 128 * 2**20  # of rows fetched by `coderows sql` (one row up to 8 MB, above the 5 MB file cap); rows past it are not sent
# Appended to the embedded server's URL by `db url`, so that psql and other clients
# resolve unqualified table names in the coderows schema, as coderows sql does.
SEARCH_PATH_URL_OPTION = "options=" + quote("-c search_path=coderows,public", safe="")


def database_option(command: F) -> F:
    return click.option(
        "--database-url",
        metavar="URL",
        default=None,
        help="PostgreSQL URL (default: CODEROWS_DATABASE_URL, else the embedded server).",
    )(command)


def exclude_options(command: Callable[..., None]) -> Callable[..., None]:
    """--exclude and --clear-excludes: patterns a root remembers (repos.excludes)."""
    command = click.option(
        "--clear-excludes",
        is_flag=True,
        help="Forget the --exclude patterns recorded for these roots (their files are indexed again).",
    )(command)
    return click.option(
        "--exclude",
        "excludes",
        multiple=True,
        metavar="GLOB",
        help="gitignore-style pattern to skip (repeatable). Recorded for the root: later runs given no "
        "--exclude (index, watch, serve) keep to the same patterns.",
    )(command)


def _excludes_given(excludes: tuple[str, ...], clear: bool) -> tuple[str, ...] | None:
    """What to pass on as `excludes`: the new patterns, () to clear, None to keep the recorded ones."""
    if excludes:
        return excludes
    return () if clear else None


class LazyGroup(click.Group):
    """A group whose `lazy` commands ("name": "module:attribute") are imported only when
    asked for (run, or listed by --help), so that other commands do not pay for them."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module, _, attribute = self.lazy[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


# `setup` is the biggest module of the CLI, and no other command uses it.
@click.group(
    cls=LazyGroup,
    lazy={"setup": "coderows.cli.setup_claude:setup_group"},
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="coderows")
def main() -> None:
    """coderows: every Python module, class and function as rows in PostgreSQL,
    served to coding agents over MCP."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Re-parse every file, not only changed ones.")
@exclude_options
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parser processes (default: all cores).")
@click.option("--max-file-size", type=click.IntRange(min=1), default=None, metavar="BYTES", help="Skip larger files (default 5 MB).")
@database_option
def index(
    paths: tuple[Path, ...],
    full: bool,
    excludes: tuple[str, ...],
    clear_excludes: bool,
    jobs: int | None,
    max_file_size: int | None,
    database_url: str | None,
) -> None:
    """Index (or incrementally re-index) each repository root; default: the current folder."""
    with _loading_modules():
        from coderows.indexer.pipeline import DEFAULT_MAX_FILE_BYTES, index_repository

    roots = _folders(paths)
    with _connection(database_url) as conn:
        for root in roots:
            with _progress_bar(f"indexing {root}") as progress:
                summary = index_repository(
                    conn, root, full=full, excludes=_excludes_given(excludes, clear_excludes), jobs=jobs,
                    max_file_bytes=max_file_size or DEFAULT_MAX_FILE_BYTES, progress=progress,
                )
            click.echo(summary.line())
            for path, status, reason in summary.failures[:10]:
                click.echo(f"  {status}: {path}: {reason}", err=True)
            if len(summary.failures) > 10:
                click.echo(f"  ... and {len(summary.failures) - 10} more: coderows sql \"SELECT path, parse_status, parse_error FROM modules WHERE parse_status IN ('partial', 'skipped')\"", err=True)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="HTTP port.")
@click.option("--no-watch", is_flag=True, help="Do not follow file-system events (answers still re-check their files).")
@click.option(
    "--token",
    envvar="CODEROWS_TOKEN",
    default=None,
    metavar="TOKEN",
    help="HTTP: demand 'Authorization: Bearer TOKEN' on every request; required for a non-loopback "
    "--host (default: CODEROWS_TOKEN; prefer it, a command line is visible to other users).",
)
@click.option(
    "--allow-edits",
    is_flag=True,
    help="HTTP: also offer the edit tools (replace/insert/delete/rename_symbol); stdio always offers them.",
)
@database_option
def serve(
    paths: tuple[Path, ...], http: bool, host: str, port: int, no_watch: bool, token: str | None, allow_edits: bool,
    database_url: str | None,
) -> None:
    """Run the MCP server (stdio by default); indexes PATHs (default: .) first, in the
    background, then follows their changes on disk."""
    from coderows.db.connection import uses_embedded

    token = token or None  # CODEROWS_TOKEN= (empty) is no token
    if http:
        from coderows.server.http import RefusedToServe, check_binding

        try:
            check_binding(host, token)  # before the database or the indexer start
        except RefusedToServe as error:
            raise click.ClickException(str(error)) from None
    roots = [path.resolve() for path in _folders(paths)]
    database = _database_in_background(database_url)
    # The MCP SDK is most of a server's start (0.5 s): imported while the thread above
    # starts the database and prepares its schema, with the collector paused (its
    # pydantic models make ~0.15 s of collections otherwise: 0.61 -> 0.44 s of CPU).
    with _loading_modules():
        from coderows.server.app import serve as run_server
        from coderows.server.http import RefusedToServe

    url = database()
    if not http:
        _end_at_once_on_interrupt()
    try:
        run_server(
            url, roots, http=http, host=host, port=port, watch=not no_watch, token=token,
            embedded=uses_embedded(database_url), allow_edits=allow_edits,
        )
    except RefusedToServe as error:  # e.g. the port is taken
        raise click.ClickException(str(error)) from None


def _database_in_background(database_url: str | None) -> Callable[[], str]:
    """Resolve the database URL (starting the embedded server if need be), then connect
    once, which creates or migrates the schema, all in a thread; returns the function
    that waits for the URL (a ClickException as _resolve raises it). The connection is
    not waited for: a database that is down is the first tool call's to report."""
    import threading

    resolved = threading.Event()
    outcome: list[str | click.ClickException] = []

    def prepare() -> None:
        try:
            url = _resolve(database_url)
            outcome.append(url)
        except click.ClickException as error:
            outcome.append(error)
            return
        finally:
            resolved.set()
        from coderows.db.connection import DatabaseError, connect

        try:
            connect(url, autocommit=True).close()
        except DatabaseError:
            pass

    threading.Thread(target=prepare, name="coderows-prepare-database", daemon=True).start()

    def url() -> str:
        resolved.wait()
        if isinstance(outcome[0], click.ClickException):
            raise outcome[0]
        return outcome[0]

    return url


def _end_at_once_on_interrupt() -> None:
    """Ctrl-C (SIGINT) ends a stdio server as SIGTERM does, at once. asyncio would turn it
    into a cancellation that waits forever for the thread blocked reading stdin; the
    parser workers notice their parent is gone and end too (pipeline._die_with_parent)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@exclude_options
@database_option
def watch(paths: tuple[Path, ...], excludes: tuple[str, ...], clear_excludes: bool, database_url: str | None) -> None:
    """Keep the index live from file-system events until interrupted (Ctrl-C).

    Brings each root (default: .) up to date first, then re-indexes what changes on
    disk; one line per root and batch written on stderr.
    """
    from coderows.db.connection import DatabaseError, connect
    from coderows.indexer.watch import Watcher

    roots = _folders(paths)
    url = _resolve(database_url)
    try:
        connect(url, autocommit=True).close()  # fail now with one line, not retry forever
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    _log_to_stderr(logging.getLogger("coderows"))
    logging.getLogger("watchdog").setLevel(logging.ERROR)  # our own line says it once
    watcher = Watcher(
        url,
        roots,
        _excludes_given(excludes, clear_excludes),
        on_batch=lambda report: click.echo(report.line(), err=True),
    )
    watcher.start()
    try:
        watcher.wait_ready()
        click.echo(f"watching {', '.join(map(str, watcher.roots))} (Ctrl-C to stop)", err=True)
        watcher.run()
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)
    finally:
        watcher.stop()


def _log_to_stderr(logger: logging.Logger) -> None:
    """Warnings of coderows's own loggers as plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of objects, one per row.")
@database_option
def sql(query: str, as_json: bool, database_url: str | None) -> None:
    """Run one read-only query against the index and print the rows.

    \b
    coderows sql "SELECT name, start_line, end_line FROM methods
                  WHERE class_name = 'Session' AND module = 'requests.sessions'"
    """
    import psycopg

    from coderows.db import readonly
    from coderows.db.connection import DatabaseError, first_line
    from coderows.db.sandbox import SQL_ROW_SHARE_OF_BUDGET, RejectedQuery, run_readonly

    # The query runs as the read-only login, never as the main user (db/readonly.py).
    url = _resolve(database_url)
    try:
        with _connection(url) as main_conn:
            reader_url = readonly.prepare_reader(url, main_conn)
        reader = readonly.connect_reader(reader_url)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    with reader:
        try:
            columns, rows, truncated = run_readonly(reader, query, SQL_ROW_LIMIT, max_bytes=SQL_MAX_BYTES)
        except RejectedQuery as error:
            raise click.ClickException(str(error)) from None
        except psycopg.Error as error:
            raise click.ClickException(first_line(error)) from None
    chunks = json_chunks(columns, rows) if as_json else table_lines(columns, rows)
    printed = _echo_within(chunks, SQL_MAX_BYTES, json_array=as_json)
    if truncated or printed < len(rows):
        per_row = SQL_MAX_BYTES // SQL_ROW_SHARE_OF_BUDGET // 2**20
        click.echo(
            f"(cut after {min(printed, len(rows))} rows: at most {SQL_ROW_LIMIT} rows, {SQL_MAX_BYTES // 2**20} MB, "
            f"{per_row} MB a row; add LIMIT / OFFSET or select fewer columns)",
            err=True,
        )


@main.command()
@database_option
def status(database_url: str | None) -> None:
    """Repositories, counts, last index time, and files changed on disk since."""
    from coderows.db.repo_status import place_note, repo_place, repo_statuses
    from coderows.indexer.pipeline import only_an_older_parsers, plan

    with _connection(database_url) as conn:
        repos = repo_statuses(conn)
        if not repos:
            click.echo("no repositories indexed yet: run `coderows index PATH`")
            return
        for repo in repos:
            click.echo(
                f"{repo.root}: {repo.modules} files, {repo.symbols} definitions, {repo.not_ok} not ok; indexed {repo.last_indexed};"
                f" repo {repo.name}{place_note(repo_place(repo.root))}"
            )
            if repo.excludes:
                click.echo(f"  excluding: {' '.join(repo.excludes)} (coderows index --clear-excludes forgets them)")
            root = Path(repo.root)
            if not root.is_dir():
                continue  # the first line says so, and how to forget it
            pending = plan(conn, repo.id, root)
            older = sum(1 for file in pending.to_read if only_an_older_parsers(file, pending.known.get(file.path)))
            changed = len(pending.to_read) - older
            if changed or pending.deleted:
                click.echo(f"  changed on disk since: {changed} new or modified, {len(pending.deleted)} deleted (run coderows index {root})")
            if older:
                files = "1 file" if older == 1 else f"{older} files"
                click.echo(f"  to parse again: {files} an older coderows indexed (run coderows index {root})")
            if not (pending.to_read or pending.deleted):
                click.echo("  up to date")


@main.command()
@click.argument("name")
@click.argument("new_name")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--include-overrides", is_flag=True, help="A method: also rename the same-named methods of its class hierarchy.")
@click.option(
    "--include-name-only", is_flag=True,
    help="Also rename the uses known by name only (attributes of objects of unknown type), when nothing else in the "
    "repository has the name; listed apart.",
)
@click.option("--repo", default=None, help="The repository (name or root); default: the one holding the current folder.")
@database_option
def rename(
    name: str, new_name: str, dry_run: bool, include_overrides: bool, include_name_only: bool, repo: str | None,
    database_url: str | None,
) -> None:
    """Rename a definition and every use that resolves to it (all files or none); prints
    every change and what was left alone (uses known by name only, strings)."""
    from coderows.edit.tools import Ambiguous, cli_rename
    from coderows.edit.write import EditRefused
    from coderows.server.scope import UnknownRepository

    with _connection(database_url) as conn:
        try:
            answer = cli_rename(
                conn, name, new_name, dry_run=dry_run, include_overrides=include_overrides, repo=repo, cwd=Path.cwd(),
                include_name_only=include_name_only,
            )
        except Ambiguous as error:
            click.echo(str(error), err=True)
            raise click.ClickException("the name is ambiguous: nothing was renamed") from None
        except (EditRefused, UnknownRepository) as error:
            raise click.ClickException(str(error)) from None
    click.echo(answer)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@database_option
def forget(paths: tuple[Path, ...], database_url: str | None) -> None:
    """Remove repositories (by root folder, present or gone) and everything indexed from them."""
    from coderows.indexer import load

    with _connection(database_url) as conn:
        repo_ids = [load.find_repo(conn, path) for path in paths]
        unknown = [str(path) for path, repo_id in zip(paths, repo_ids, strict=True) if repo_id is None]
        if unknown:  # before removing anything: a typo must not forget half the list
            raise click.ClickException(f"not an indexed repository: {', '.join(unknown)} (coderows status lists them)")
        for repo_id in dict.fromkeys(repo_ids):
            assert repo_id is not None
            gone = load.forget_repository(conn, repo_id)
            click.echo(f"forgot {gone.root}: {gone.files} files, {gone.contents_freed} of their contents freed (no other repository held them)")


@main.group()
def db() -> None:
    """The embedded PostgreSQL server (used when no database URL is configured)."""


@db.command("status")
def db_status() -> None:
    """Whether the embedded server runs, where its data lives, its URL."""
    from coderows.db import embedded

    state = embedded.status()
    click.echo(f"data: {state.data_dir}")
    click.echo(f"running: pid {state.pid}" if state.running else "running: no (starts on first use)")
    if state.url:
        click.echo(f"url: {state.url}")
    if os.environ.get("CODEROWS_DATABASE_URL"):
        click.echo("note: CODEROWS_DATABASE_URL is set, so coderows uses that server, not this one")


@db.command("start")
def db_start() -> None:
    """Start the embedded server (every command starts it on first use anyway)."""
    from coderows.db.connection import uses_embedded

    click.echo(_resolve(None) if uses_embedded(None) else "note: CODEROWS_DATABASE_URL is set; not starting the embedded server")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server (it starts again on next use)."""
    from coderows.db import embedded

    try:
        stopped = embedded.stop()
    except embedded.EmbeddedServerError as error:
        raise click.ClickException(str(error)) from None
    click.echo("stopped" if stopped else "not running")


@db.command("url")
@database_option
def db_url(database_url: str | None) -> None:
    """A URL psql accepts: psql "$(coderows db url)"."""
    url = _resolve(database_url)
    if database_url or os.environ.get("CODEROWS_DATABASE_URL"):
        click.echo(url)
    else:
        click.echo(f"{url}&{SEARCH_PATH_URL_OPTION}")


# A cell wider than this does not widen its column: one long value must not pad every
# other row of the table out to its width.
SQL_WIDE_CELL = 200


def table_lines(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, int]]:
    """(line, rows printed once it is out) of rows as aligned text. A single column prints
    raw values (bodies stay readable); otherwise line breaks inside values show as \\n.
    Lines are made one at a time, so that printing holds no copy of the rows."""
    if len(columns) == 1:
        for count, row in enumerate(rows, 1):
            yield _cell(row[0], escape=False), count
        if not rows:
            yield "", 0
        return
    widths = [len(column) for column in columns]
    for row in rows:
        for i, value in enumerate(row):
            width = len(_cell(value, escape=True))
            if width <= SQL_WIDE_CELL:
                widths[i] = max(widths[i], width)
    yield "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip(), 0
    yield "  ".join("-" * width for width in widths), 0
    for count, row in enumerate(rows, 1):
        cells = (_cell(value, escape=True).ljust(width) for value, width in zip(row, widths, strict=True))
        yield "  ".join(cells).rstrip(), count
    yield f"({len(rows)} row{'s' if len(rows) != 1 else ''})", len(rows)


def json_chunks(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, int]]:
    """(text, rows printed once it is out) of a JSON array of objects, one per row, as
    json.dumps(..., indent=1) lays it out, made one row at a time."""
    for count, row in enumerate(rows, 1):
        item = json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False, indent=1)
        yield ("[\n " if count == 1 else ",\n ") + item.replace("\n", "\n "), count
    yield ("\n]" if rows else "[]"), len(rows)


def _echo_within(chunks: Iterator[tuple[str, int]], max_bytes: int, *, json_array: bool) -> int:
    """Print the chunks (lines of a table, or pieces of a JSON array) while they total at
    most max_bytes; the rows printed. A JSON array cut short is still closed."""
    used, printed = 0, 0
    for text, count in chunks:
        size = len(text.encode("utf-8", "replace")) + 1
        if used + size > max_bytes:
            break
        used += size
        printed = count
        click.echo(text, nl=not json_array)
    else:
        if json_array:
            click.echo("")
        return printed
    if json_array:
        click.echo("\n]" if printed else "[]")
    return printed


def _cell(value: Any, *, escape: bool) -> str:
    if value is None:
        return "NULL" if escape else ""
    if isinstance(value, list):
        text = "{" + ", ".join(str(item) for item in value) + "}"
    else:
        text = str(value)
    return text.replace("\n", "\\n") if escape else text


def _folders(paths: Sequence[Path]) -> list[Path]:
    """The roots to work on (default: .), each checked to be a folder before any
    database work, so that a typo fails at once with one line."""
    roots = list(paths) or [Path(".")]
    for root in roots:
        if not root.is_dir():
            raise click.ClickException(f"not a folder: {root}")
    return roots


def _resolve(database_url: str | None) -> str:
    from coderows.db.connection import DatabaseError, resolve_database_url

    try:
        return resolve_database_url(database_url)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def _connection(database_url: str | None) -> Iterator[psycopg.Connection]:
    import psycopg

    from coderows.db.connection import DatabaseError, connect, first_line, resource_problem

    try:
        conn = connect(_resolve(database_url), autocommit=True)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    try:
        yield conn
    except psycopg.OperationalError as error:
        problem = resource_problem(error)
        if problem:  # disk full and the like: the connection is fine, the server is stuck
            raise click.ClickException(problem) from None
        raise click.ClickException(f"lost the database connection: {first_line(error)}") from None
    finally:
        conn.close()


_modules_frozen = False  # _loading_modules has run in this process


@contextmanager
def _loading_modules() -> Iterator[None]:
    """Import a command's modules (psycopg, the indexer) with the collector paused, then
    set what they made aside for good (gc.freeze): they live as long as the process, and
    collections going over them again and again were ~10 ms of a no-op `coderows index`.
    Once per process: a program calling commands in-process would otherwise freeze its
    own garbage (cycles among frozen objects are never collected) at every call."""
    import gc

    global _modules_frozen
    if _modules_frozen:
        yield
        return
    _modules_frozen = True
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing when stderr is piped or captured. The bar
    (and rich, ~45 ms to import) comes with the first report of files to read, so a run
    with nothing to do never loads it."""
    if not sys.stderr.isatty():
        yield None
        return
    shown: list[tuple[Progress, TaskID]] = []

    def advance(done: int, total: int) -> None:
        if not shown:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
            bar.start()
            shown.append((bar, bar.add_task(label, total=None)))
        bar, task = shown[0]
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        for bar, _ in shown:
            bar.stop()


def run() -> None:
    """Console entry point: one-line errors, exit code 130 on Ctrl-C."""
    try:
        main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted: every file is at its old or new rows; run again to finish", err=True)
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"coderows: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except _reported_errors() as error:
        click.echo(f"coderows: {error}", err=True)
        sys.exit(1)
    finally:
        _skip_collections_at_exit()


def _skip_collections_at_exit() -> None:
    """The command is done: spare the interpreter's shutdown its garbage collections.
    Shutdown collects several times over every object still alive (every module psycopg
    and the indexer loaded): ~35 ms of CPU, a seventh of a no-op `coderows index`.
    gc.freeze() moves those objects where no collection looks; atexit hooks, flushing and
    closing still run, and the process's memory goes back to the system either way."""
    import gc

    gc.freeze()


# Errors that run() reports as one line, by (module, class name).
REPORTED_ERRORS = (("coderows.indexer.pipeline", "IndexingError"), ("coderows.db.connection", "DatabaseError"))


def _reported_errors() -> tuple[type[BaseException], ...]:
    """The classes of REPORTED_ERRORS whose modules are loaded. An error whose module was
    never imported cannot have been raised, and importing the indexer only to name its
    error would make every command pay for it."""
    loaded = (sys.modules.get(module) for module, _ in REPORTED_ERRORS)
    return tuple(getattr(module, name) for module, (_, name) in zip(loaded, REPORTED_ERRORS, strict=True) if module is not None)
