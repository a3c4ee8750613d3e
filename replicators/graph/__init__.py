"""Microsoft 365 through Microsoft Graph (``type: graph``): users, organisational contacts
and mailbox contact folders, read whole and then through delta links."""
