"""A test-only module that depends on ``sample`` and brings an approval engine."""
