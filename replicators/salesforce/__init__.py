"""The ``type: salesforce`` source."""
