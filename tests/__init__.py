"""The test suite's shared helpers live in modules of their own beside the tests (tests/chart.py,
tests/cities.py, tests/cluster_faults.py, ...), so that no test module is imported as a library
by another. pytest rewrites the asserts of test modules and conftest files only: the helpers
that assert are registered here, before any of them is imported, so a failing assert in one
reports its values as it did when it lived in a test module."""

import pytest

pytest.register_assert_rewrite("tests.chart", "tests.cluster_faults")
