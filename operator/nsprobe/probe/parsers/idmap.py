"""Parser of /proc/<pid>/uid_map and gid_map, and id translation; called by probe.host for identities.

Format (user_namespaces(7)): one range per line, three unsigned decimals right-aligned in width 10
(``%10u %10u %10u``): first id inside the namespace, first id outside it, and the range length.

- The "outside" column is relative to the READER's user namespace: read from the host it gives host ids.
- The initial namespace shows ``0 0 4294967295``; ``unshare --map-root-user`` gives ``0 <uid> 1``.
- A namespace whose map has not been written yet has an EMPTY file (no ids mapped); this parses to ().
- Up to 5 lines before 4.15, up to 340 since. Lines are never written in order of inside id.
"""

from __future__ import annotations

from collections.abc import Sequence

from nsprobe.probe import model
from nsprobe.probe.parsers import _common, errors

_MAX_ID = 2**32 - 1


def parse_id_map(text: str) -> tuple[model.IdMapEntry, ...]:
    """Parse a uid_map or gid_map; an empty text gives ()."""
    entries = []
    for number, line in enumerate(_common.lines(text), start=1):
        where = f"id map line {number}"
        parts = _common.fields(line)
        if len(parts) != 3:
            raise errors.ParseError(f"{where}: expected 'inside outside count', got {_common.short(line)}")
        inside, outside, count = (_common.to_uint(part, what=where) for part in parts)
        if count == 0 or inside > _MAX_ID or outside > _MAX_ID or count > _MAX_ID + 1:
            raise errors.ParseError(f"{where}: range out of the 32-bit id space: {_common.short(line)}")
        entries.append(model.IdMapEntry(inside=inside, outside=outside, count=count))
    return tuple(entries)


def map_to_host(entries: Sequence[model.IdMapEntry], inside_id: int) -> int | None:
    """The outside (reader's namespace) id for inside_id, or None when inside_id is not mapped."""
    for entry in entries:
        if entry.inside <= inside_id < entry.inside + entry.count:
            return entry.outside + (inside_id - entry.inside)
    return None
