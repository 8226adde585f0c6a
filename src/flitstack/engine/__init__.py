"""The migration engine: state store, setup, ordered load, sample diff, delta, rollback."""
