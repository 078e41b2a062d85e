"""Byte-fixture and property tests for the pure GATT codecs in drivers/gatt."""
