"""Marker evaluation against one target, with parsed markers cached by their text.

Locks repeat the same few marker strings hundreds of times, and parsing is
the expensive part of evaluation, so each distinct string is parsed once per
process. A marker that does not parse is a defect of the lock (LockError).
"""

from __future__ import annotations

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from vsite.errors import LockError

_PARSED: dict[str, Marker] = {}


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
        self.lock = lock
        self.env: dict = dict(markers)
        self.lock_file = lock_file
        if lock_file:
            self.env.update(extras=set(extras), dependency_groups=set(groups))
        else:
            self.env["extra"] = ""
        self._memo: dict[str, bool] = {}

    def holds(self, marker: str | None) -> bool:
        if not marker:
            return True
        answer = self._memo.get(marker)
        if answer is None:
            parsed = parse_marker(marker, self.lock)
            try:
                if self.lock_file:
                    answer = parsed.evaluate(self.env, context="lock_file")
                else:
                    answer = parsed.evaluate(self.env)
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
