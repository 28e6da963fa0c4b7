"""Marker evaluation against one target, with parsed markers cached by their text.

Locks repeat the same few marker strings hundreds of times, and parsing is
the expensive part of evaluation, so each distinct string is parsed once per
process. A marker that does not parse is a defect of the lock (LockError).
"""

from __future__ import annotations

import re

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from vsite.errors import LockError, PlanError

_PARSED: dict[str, Marker] = {}
# uv.lock encodes tool.uv.conflicts as ``extra == 'extra-3-pkg-gpu'`` (or ``group-...``);
# their meaning is set membership, which PEP 751's lock-file marker context expresses.
_CONFLICT = re.compile(r"""extra\s*(==|!=)\s*(['"])((?:extra|group)-\d+-[^'"]*)\2""")


def conflict_marker(text: str) -> str:
    """Rewrite uv's conflict markers to ``'<item>' in extras`` / ``not in`` form."""
    return _CONFLICT.sub(lambda m: f"'{m[3]}' {'in' if m[1] == '==' else 'not in'} extras", text)


def parse_marker(text: str, lock: str) -> Marker:
    marker = _PARSED.get(text)
    if marker is None:
        try:
            marker = _PARSED[text] = Marker(text)
        except InvalidMarker:
            raise LockError(f"{lock}: invalid marker {text!r}") from None
    return marker


def parse_specifier(text: str, lock: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise LockError(f"{lock}: invalid version specifier {text!r}") from None


class MarkerEnv:
    """A target's marker environment, plus PEP 751's ``extras``/``dependency_groups`` sets.

    ``holds`` answers whether an edge or package applies; results are memoized
    since the answer depends only on the marker text.
    """

    def __init__(
        self,
        markers: dict[str, str],
        lock: str,
        *,
        extras: frozenset[str] = frozenset(),
        groups: frozenset[str] = frozenset(),
        lock_file: bool = False,
    ) -> None:
        """``lock_file`` selects PEP 751 evaluation (``extras``/``dependency_groups`` sets);
        otherwise uv.lock evaluation, where ``extras`` holds the activated conflict items."""
        self.lock = lock
        self.env: dict = dict(markers)
        self.lock_file = lock_file
        self.env.update(extras=set(extras), dependency_groups=set(groups))
        self._memo: dict[str, bool] = {}

    def holds(self, marker: str | None) -> bool:
        if not marker:
            return True
        answer = self._memo.get(marker)
        if answer is None:
            text = marker if self.lock_file or "extra" not in marker else conflict_marker(marker)
            parsed = parse_marker(text, self.lock)
            try:
                answer = parsed.evaluate(self.env, context="lock_file")
            except Exception as exc:  # packaging raises several types for undefined names/ops
                raise LockError(f"{self.lock}: cannot evaluate marker {marker!r}: {exc}") from None
            self._memo[marker] = answer
        return answer

    def python_in(self, specifier: str | None) -> bool:
        """Whether the target's full Python version satisfies ``specifier`` (prereleases allowed)."""
        if not specifier:
            return True
        spec = parse_specifier(specifier, self.lock)
        return spec.contains(self.env["python_full_version"], prereleases=True)

    def check_lock_python(self, specifier: str | None) -> None:
        """A target outside the lock's ``requires-python`` is refused (uv and PEP 751 agree)."""
        if not self.python_in(specifier):
            raise PlanError(
                f"target Python {self.env['python_full_version']} is outside the lock's "
                f"requires-python {specifier}"
            )
