"""The served tree in memory: entries, indexes, filters, matching rules."""
