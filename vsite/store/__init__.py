"""Store: content-addressed unpacked wheels with precompiled bytecode, shared by every view."""
