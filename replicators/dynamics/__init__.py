"""The ``type: dynamics`` source."""
