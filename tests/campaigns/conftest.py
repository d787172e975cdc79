"""Campaign test fixtures come from the suite's conftest; helpers live in campkit."""
