"""The percentile sketch keeps every percentile within its relative error of the exact one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.metrics import percentile
from sandbox.sketch import LogHistogram

values = st.lists(
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False), min_size=1, max_size=400
)
ps = st.sampled_from([1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0])


@settings(max_examples=300, deadline=None)
@given(values, ps)
def test_any_percentile_is_within_one_percent_of_the_exact_nearest_rank(
    samples: list[float], p: float
) -> None:
    # Given any samples in a sketch with the default 1 % bound
    sketch = LogHistogram()
    sketch.add_all(samples)
    # When a percentile is asked
    estimate = sketch.quantile(p)
    # Then it is within 1 % of the exact nearest-rank percentile the metric store computes
    exact = percentile([(v, 1.0) for v in samples], p)
    assert estimate is not None
    assert abs(estimate - exact) <= 0.01 * exact + 1e-12


@settings(max_examples=100, deadline=None)
@given(values, values, ps)
def test_merged_sketches_answer_as_one_sketch_of_all_samples(
    a: list[float], b: list[float], p: float
) -> None:
    left, right, whole = LogHistogram(), LogHistogram(), LogHistogram()
    left.add_all(a)
    right.add_all(b)
    whole.add_all(a + b)
    left.merge(right)
    assert left.quantile(p) == whole.quantile(p)
    assert left.count == whole.count == len(a) + len(b)


def test_memory_is_bounded_by_the_value_range_not_the_number_of_values() -> None:
    # Given a million latencies between 1 ms and 60 s
    sketch = LogHistogram()
    for n in range(1_000_000):
        sketch.add(1 + (n * 7919) % 60_000)
    # Then the sketch holds at most ln(60000)/ln(1.01/0.99) + 1 buckets
    assert sketch.count == 1_000_000
    assert len(sketch) <= 553


def test_an_empty_sketch_has_no_percentile_and_bad_bounds_are_refused() -> None:
    assert LogHistogram().quantile(95) is None
    with pytest.raises(ValueError, match="relative_error"):
        LogHistogram(relative_error=0)
    with pytest.raises(ValueError, match="different relative errors"):
        LogHistogram(0.01).merge(LogHistogram(0.02))
