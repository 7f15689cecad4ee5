"""Leaderboard entries: submit results, read them back, rank and render the board.

An *entry* is a folder ``leaderboards/entries/<entry-id>/`` holding one run's
``result.json`` and the pictures (PNG) and small JSON files it lists; sounds and arrays stay
out so that entries stay small (the entry's ``result.json`` lists only what was copied and
names what was left out under ``entry.left_out``). A result is valid as
:mod:`grainbench.result_schema` defines it.

- :mod:`~grainbench.leaderboard.entries`: entry ids, finding and reading entries (readers
  hold a shared lock on the folder and skip a broken entry with one line);
- :mod:`~grainbench.leaderboard.publish`: :func:`submit` (exclusive lock, a hidden staging
  folder swapped in by renames);
- :mod:`~grainbench.leaderboard.ranking`: groups of entries that compare (SPEC section 6:
  same suite version, dataset fingerprint and task parameters), each sorted by the task's
  *headline* metric using the catalogue's ``higher_is_better`` (descriptive metrics are
  never ranked). A task object may declare ``headline`` (a metric key such as
  ``"snr[codec=png8]"``) and ``key_metrics`` (a list of keys); otherwise the headline is the
  task's first ranked metric and the key metrics are the ranked metrics measured under the
  headline's condition;
- :mod:`~grainbench.leaderboard.cells`: the texts of one result's machine and generator cells;
- :mod:`~grainbench.leaderboard.render`: ``README.md``, ``leaderboard.csv`` and
  ``leaderboard.html``.
"""

from grainbench.leaderboard.cells import (
    column_title,
    generator_text,
    group_facts,
    group_heading,
    group_table,
    machine_text,
)
from grainbench.leaderboard.entries import (
    DEFAULT_ENTRIES,
    DEFAULT_OUT,
    ENTRY_ID,
    LOCK_WAIT_S,
    REFERENCE_REP,
    Entry,
    check_entry_id,
    entry_id,
    load_entries,
    read_entries,
    resolve,
    scan_entries,
)
from grainbench.leaderboard.publish import ENTRY_KINDS, MAX_ENTRY_FILE_BYTES, submit
from grainbench.leaderboard.ranking import (
    Group,
    group_entries,
    headline_key,
    key_metric_keys,
    params_id,
    sort_value,
)
from grainbench.leaderboard.render import (
    CSV_COLUMNS,
    render_csv,
    render_markdown,
    write_entry_reports,
    write_leaderboard,
)
from grainbench.result_schema import require_valid, validate_result

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_ENTRIES",
    "DEFAULT_OUT",
    "ENTRY_ID",
    "ENTRY_KINDS",
    "LOCK_WAIT_S",
    "MAX_ENTRY_FILE_BYTES",
    "REFERENCE_REP",
    "Entry",
    "Group",
    "check_entry_id",
    "column_title",
    "entry_id",
    "generator_text",
    "group_entries",
    "group_facts",
    "group_heading",
    "group_table",
    "headline_key",
    "key_metric_keys",
    "load_entries",
    "machine_text",
    "params_id",
    "read_entries",
    "render_csv",
    "render_markdown",
    "require_valid",
    "resolve",
    "scan_entries",
    "sort_value",
    "submit",
    "validate_result",
    "write_entry_reports",
    "write_leaderboard",
]
