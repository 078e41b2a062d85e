"""One module and one .kv per screen; each screen only binds to its view-model."""
