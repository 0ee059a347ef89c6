"""Long-running ingest: watched folders into one pipeline, with a SQLite ledger and metrics.

`streamclip watch` and `streamclip serve` run a `Daemon`; `streamclip status` reads its ledger.
"""

from streamclip.ingest.config import ServeConfig, load_serve_config, settings_hash
from streamclip.ingest.daemon import Daemon, serve
from streamclip.ingest.ledger import Ledger, SourceRecord

__all__ = ["Daemon", "Ledger", "ServeConfig", "SourceRecord", "load_serve_config", "serve", "settings_hash"]
