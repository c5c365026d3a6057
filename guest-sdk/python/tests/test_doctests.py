"""Runs the examples in the SDK's docstrings."""

import doctest

import support  # noqa: F401
import weir.errors
import weir.framing
import weir.info
import weir.testing


def load_tests(loader, tests, ignore):
    for module in (weir.errors, weir.framing, weir.info, weir.testing):
        tests.addTests(doctest.DocTestSuite(module))
    return tests
