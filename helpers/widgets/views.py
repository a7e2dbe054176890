"""Thin ipywidgets views of the models in `models.py`: layout and wiring only.

    probe = PortProbe(request=..., host=alb_dns)
    PortProbeView(probe)            # the last expression of a cell shows it

Widget values are tied to model traits with `traitlets.link` (both ways) or `dlink` (model ->
widget); buttons call a model method. Anything worth testing lives in the model.
"""

from __future__ import annotations

import ipywidgets as widgets
from traitlets import dlink, link

from helpers.diagram import FlowDiagram
from helpers.widgets.models import PortProbe, RuleToggle, ServiceScaler

_WIDE = widgets.Layout(width="100%")


def _fit_width(svg: str) -> str:
    """Graphviz's SVG at most as wide as the output area, scaled down (its viewBox keeps the shape)."""
    return svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def _error_line(model) -> widgets.HTML:
    """A red line showing the model's `error`, empty when there is none."""
    line = widgets.HTML()
    dlink((model, "error"), (line, "value"), lambda text: f"<span style='color:#cf222e'>{text}</span>" if text else "")
    return line


class PortProbeView(widgets.VBox):
    """Host, port and path boxes, a Send button, and what happened."""

    def __init__(self, model: PortProbe) -> None:
        self.model = model
        self.host = widgets.Text(description="host", layout=widgets.Layout(width="28em"))
        self.port = widgets.BoundedIntText(min=1, max=65535, description="port", layout=widgets.Layout(width="12em"))
        self.path = widgets.Text(description="path", layout=widgets.Layout(width="16em"))
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.outcome = widgets.Textarea(disabled=True, rows=2, layout=_WIDE)
        for name in ("host", "port", "path"):
            link((model, name), (getattr(self, name), "value"))
        dlink((model, "outcome"), (self.outcome, "value"))
        dlink((model, "busy"), (self.send, "disabled"))
        self.send.on_click(lambda _button: model.probe())
        super().__init__([widgets.HBox([self.host, self.port, self.path, self.send]), self.outcome])


class RuleToggleView(widgets.VBox):
    """A switch for one rule, the verdict in one line, and the flow's picture."""

    def __init__(self, model: RuleToggle, *, snapshot=None) -> None:
        self.model = model
        self.switch = widgets.ToggleButton(icon="shield", layout=widgets.Layout(width="auto"))
        self.summary = widgets.Label()
        self.picture = widgets.HTML()
        dlink((model, "description"), (self.switch, "description"))
        link((model, "enabled"), (self.switch, "value"))
        dlink((model, "summary"), (self.summary, "value"))
        # `snapshot` (optional) draws subnet / NACL / SG boxes around the path.
        dlink((model, "verdict"), (self.picture, "value"),
              lambda verdict: _fit_width(FlowDiagram.from_verdict(verdict, snapshot).to_svg()) if verdict is not None else "")
        super().__init__([widgets.HBox([self.switch, self.summary]), _error_line(model), self.picture])


class ServiceScalerView(widgets.VBox):
    """A slider for the desired count (acts on release, not on every step) and the answer."""

    def __init__(self, model: ServiceScaler) -> None:
        self.model = model
        self.slider = widgets.IntSlider(min=0, description="desired", continuous_update=False)
        self.status = widgets.Label()
        dlink((model, "maximum"), (self.slider, "max"))
        link((model, "desired"), (self.slider, "value"))
        dlink((model, "status"), (self.status, "value"))
        super().__init__([widgets.HBox([self.slider, self.status]), _error_line(model)])
