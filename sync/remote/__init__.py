"""The MQTT channel between a hub and its follow-up centre (docs/centre-protocol.md).

Pure parts — topic names, command parsing and validation, freshness and replay checks, the
allow-list of settings the centre may change, reconnect backoff — live in `protocol`, `schemas`,
`settings` and `backoff`; `dispatch` turns a checked command into calls on a `RemoteCommands`
port; `channel` is the only module that talks to paho-mqtt.
"""
