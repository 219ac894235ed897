"""Papers whose published numbers the report sets beside ours: one module per paper, registered as a ``paper``."""
