"""Tests of symgrad.nn (a package, so that module names such as test_functional stay unique)."""
