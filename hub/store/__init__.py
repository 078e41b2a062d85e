"""SQLite persistence: schema, migrations, the measurement store and its outbox."""

from hub.store.schema import SCHEMA_VERSION, StoreError, connect
from hub.store.store import DeliveryState, Recorded, SetAside, Store

__all__ = ["SCHEMA_VERSION", "DeliveryState", "Recorded", "SetAside", "Store", "StoreError", "connect"]
