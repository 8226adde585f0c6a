"""Planning a migration: the estimate and the rebuild reference for what cannot migrate."""
