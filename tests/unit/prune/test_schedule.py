import pytest

from nlpcompress.prune.schedule import SparsitySchedule, cubic_sparsity


def test_cubic_schedule_at_start_middle_end():
    # s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 with s_i=0, s_f=0.8, t0=10, n=10, dt=5
    args = dict(initial=0.0, final=0.8, start_step=10, num_prunes=10, frequency=5)
    assert cubic_sparsity(10, **args) == pytest.approx(0.0)
    assert cubic_sparsity(35, **args) == pytest.approx(0.8 - 0.8 * 0.5**3)  # 0.7
    assert cubic_sparsity(60, **args) == pytest.approx(0.8)
    assert cubic_sparsity(0, **args) == pytest.approx(0.0)
    assert cubic_sparsity(500, **args) == pytest.approx(0.8)


def test_cubic_is_monotone_and_front_loaded():
    values = [cubic_sparsity(t, 0.0, 0.9, 0, 10, 10) for t in range(0, 101)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[50] > 0.45  # more than half the pruning happens in the first half


def test_schedule_prune_steps():
    sched = SparsitySchedule("cubic", final=0.5, start_step=4, end_step=20, frequency=4)
    steps = [t for t in range(40) if sched.is_prune_step(t)]
    assert steps == [4, 8, 12, 16, 20] == sched.prune_steps()
    assert sched.sparsity_at(4) == 0.0
    assert sched.sparsity_at(20) == pytest.approx(0.5)
    assert sched.sparsity_at(12) == pytest.approx(0.5 - 0.5 * 0.5**3)
    one = SparsitySchedule("one_shot", final=0.9, start_step=0)
    assert [t for t in range(5) if one.is_prune_step(t)] == [0]
    assert one.sparsity_at(0) == 0.9


def test_schedule_end_off_grid_still_reaches_final():
    sched = SparsitySchedule("cubic", final=0.9, start_step=0, end_step=7, frequency=5)
    assert sched.prune_steps() == [0, 5, 7]
    assert sched.sparsity_at(7) == pytest.approx(0.9)
    assert sched.sparsity_at(5) == pytest.approx(0.9 - 0.9 * (2 / 7) ** 3)


def test_peak_cut_rate_by_hand():
    # prune steps 0 and 10: s 0 -> 0.5, so half of the kept weights over 10 steps = 0.05 a step
    two = SparsitySchedule("cubic", final=0.5, start_step=0, end_step=10, frequency=10)
    assert two.prune_steps() == [0, 10]
    assert two.peak_cut_rate() == pytest.approx(0.05)
    # one shot: the whole jump in one step
    assert SparsitySchedule("one_shot", final=0.9, start_step=3).peak_cut_rate() == 0.9
    # from an initial sparsity 0.5 to 0.75: half of the kept weights
    assert SparsitySchedule(
        "one_shot", final=0.75, start_step=0, initial=0.5
    ).peak_cut_rate() == pytest.approx(0.5)


@pytest.mark.parametrize("final,span", [(0.9, 2000), (0.25, 700), (0.9, 500)])
def test_peak_cut_rate_of_cubic_matches_its_derivative(final, span):
    # max_u 3 s_f u^2 / (n (1 - s_f + s_f u^3)) on a fine grid of u
    grid = [i / 10000 for i in range(1, 10001)]
    closed = max(3 * final * u * u / (span * (1 - final + final * u**3)) for u in grid)
    sched = SparsitySchedule("cubic", final=final, start_step=50, end_step=50 + span, frequency=1)
    assert sched.peak_cut_rate() == pytest.approx(closed, rel=0.01)
