"""Every domain's tables, imported by name so that `Base.metadata` knows all of them."""

from __future__ import annotations

# Imported for their side effect: each module declares its tables on `Base.metadata`. A new
# domain adds its `models` module here (the migration check fails on a table it cannot see).
from carteiro.accounts import models as accounts_models
from carteiro.appointments import models as appointments_models
from carteiro.campaigns import models as campaigns_models
from carteiro.db import leases  # noqa: F401  (scheduler_leases lives beside the leader lock)
from carteiro.db.base import Base
from carteiro.dispatches import models as dispatches_models
from carteiro.events import models as events_models
from carteiro.inbound import models as inbound_models
from carteiro.leads import models as leads_models
from carteiro.oauth import models as oauth_models
from carteiro.outbound import models as outbound_models
from carteiro.responder import models as responder_models
from carteiro.tenancy import models as tenancy_models
from carteiro.tracking import models as tracking_models
from carteiro.webhooks import models as webhooks_models
from carteiro.whatsapp import models as whatsapp_models

MODELS = (
    accounts_models,
    appointments_models,
    campaigns_models,
    dispatches_models,
    events_models,
    inbound_models,
    leads_models,
    oauth_models,
    outbound_models,
    responder_models,
    tenancy_models,
    tracking_models,
    webhooks_models,
    whatsapp_models,
)

__all__ = ["MODELS", "Base"]
