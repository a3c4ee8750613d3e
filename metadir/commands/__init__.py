"""The ``metadir`` subcommands: each reads the configuration and drives the layers below."""
