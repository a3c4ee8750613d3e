"""The sync engine: source rows -> mapped entries -> diff -> guard -> one store transaction."""
