"""The notification sender: outbox -> routing -> messages -> channels (``kipsense notify``)."""
