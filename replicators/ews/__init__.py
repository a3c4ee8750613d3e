"""The ``type: ews`` source."""
