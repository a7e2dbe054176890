"""Small interactive controls for the notebooks, split the way jupyter-widgets/tutorial does it:

- `models.py`: the logic, as `traitlets.HasTraits` models that tests drive without a browser;
- `views.py`: thin ipywidgets layouts wired to a model with `traitlets.link` / `dlink`.

    probe = PortProbe(request=lambda url: traffic.request(url, proxy=sandbox.socks_proxy), host=alb_dns)
    PortProbeView(probe)        # type a port, press Send, read what happened
"""

from helpers.widgets.models import PortProbe, RuleToggle, ServiceScaler, verdict_summary  # noqa: F401
from helpers.widgets.views import PortProbeView, RuleToggleView, ServiceScalerView  # noqa: F401
