"""OA module tests."""
