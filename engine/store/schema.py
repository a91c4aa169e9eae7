"""Every table of the store, in one MetaData: what Alembic migrations must agree with.

The models live in one module per concept (core tables, archive, reference data, billable
items); importing them all here is what makes ``metadata`` complete.
"""

from engine.store import archive_models, billing_models, reference_models  # noqa: F401  (register tables)
from engine.store.models import Base

metadata = Base.metadata
