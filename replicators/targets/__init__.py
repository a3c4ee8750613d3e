"""Export targets that write files: CSV and XML, each file replaced atomically."""
