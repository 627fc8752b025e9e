"""SQLite persistence behind repositories (sqlite-utils as the table helper).

The app owns connections, transactions and migrations (``storage.db``). Each thread
opens its own connection; a ``Database`` is never shared across threads.
This package may import ``smallq.models``, ``smallq.types`` and ``smallq.errors`` only.
"""
