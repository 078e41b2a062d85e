"""SQLite persistence: schema, migrations, the measurement store and its outbox."""

from hub.store.lock import DataFolderInUse
from hub.store.schema import SCHEMA_VERSION, StoreDamaged, StoreError, StoreFull, connect
from hub.store.store import DeliveryState, Recorded, Requeued, SetAside, Store, Waiting

__all__ = ["SCHEMA_VERSION", "DataFolderInUse", "DeliveryState", "Recorded", "Requeued", "SetAside", "Store", "StoreDamaged", "StoreError", "StoreFull", "Waiting", "connect"]
