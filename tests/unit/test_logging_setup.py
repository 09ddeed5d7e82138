"""Library noise is dropped from a run's console, and nothing else is."""

from __future__ import annotations

import warnings

from nlpcompress.logging_setup import quiet_warnings


def test_the_leafspec_deprecation_is_dropped_and_other_warnings_still_show():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_warnings()  # the part of quiet_libraries() that does not rewire logging
        warnings.warn(
            "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)"
            " and treespec.is_leaf()` instead.",
            FutureWarning,
            stacklevel=1,
        )
        warnings.warn("a real problem", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["a real problem"]
