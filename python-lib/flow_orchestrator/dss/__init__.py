"""The one adapter to DSS: the only library code that imports ``dataikuapi``.

:mod:`.client` connects and classifies failures, :mod:`.gateway` is the build gateway (a
:class:`~flow_orchestrator.port.BuildPort`), :mod:`.schema_propagation` and :mod:`.dataset_facts` are its two
siblings for the propagate and verify use cases, :mod:`.payloads` and :mod:`.listing` turn DSS's JSON into plain data.
"""

from .client import connect, new_client
from .gateway import DSSGateway

__all__ = ["DSSGateway", "connect", "new_client"]
