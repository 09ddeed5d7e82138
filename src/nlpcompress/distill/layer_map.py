"""Which teacher layer each student layer learns from."""

from __future__ import annotations

from collections.abc import Sequence


def skip_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Uniform ("skip") mapping: student layer ``i`` <- teacher layer ``(i + 1) k - 1``.

    With ``k = teacher_layers / student_layers``. When ``k`` is not an integer the teacher
    layer is ``floor((i + 1) * teacher_layers / student_layers) - 1``, which equals the
    formula whenever ``k`` is integral and always maps the last student layer to the last
    teacher layer. Example: 3 student, 6 teacher layers -> ``[1, 3, 5]``.
    """
    _check_depths(student_layers, teacher_layers)
    return [((i + 1) * teacher_layers) // student_layers - 1 for i in range(student_layers)]


def last_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Student layer ``i`` <- teacher layer ``teacher_layers - student_layers + i`` (the top ones)."""
    _check_depths(student_layers, teacher_layers)
    return [teacher_layers - student_layers + i for i in range(student_layers)]


def resolve_layer_map(
    strategy: str, student_layers: int, teacher_layers: int, explicit: Sequence[int] | None = None
) -> list[int]:
    """The layer map: ``explicit`` when given, else ``strategy`` (``skip`` or ``last``).

    Raises:
        ValueError: a mapped index is outside either model's depth, or the explicit map's
            length differs from the student's depth.
    """
    if explicit is not None:
        mapping = list(explicit)
        if len(mapping) != student_layers:
            raise ValueError(
                f"layer map has {len(mapping)} entries for a {student_layers}-layer student"
            )
    elif strategy == "skip":
        mapping = skip_map(student_layers, teacher_layers)
    elif strategy == "last":
        mapping = last_map(student_layers, teacher_layers)
    else:
        raise ValueError(f"unknown layer map strategy {strategy!r}; known: skip, last")
    bad = [t for t in mapping if not 0 <= t < teacher_layers]
    if bad:
        raise ValueError(f"layer map {mapping} points past the teacher's {teacher_layers} layers")
    return mapping


def _check_depths(student_layers: int, teacher_layers: int) -> None:
    if student_layers < 1 or teacher_layers < 1:
        raise ValueError(
            f"depths must be >= 1, got student {student_layers}, teacher {teacher_layers}"
        )
    if student_layers > teacher_layers:
        raise ValueError(
            f"student ({student_layers} layers) deeper than teacher ({teacher_layers})"
        )
