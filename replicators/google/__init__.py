"""Google Workspace and Google Contacts through the People API (``type: google``): the
domain directory, users' contacts and other contacts, read whole and then by sync tokens."""
