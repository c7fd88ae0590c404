"""A live run's own corner of a shared stack: every id it creates starts with its run id.

A live run drives servers that may hold another world (the `bsim up` demo: users `demo-N`,
template `welcome`, campaign `welcome`) or another run. It never resets them; instead it renames
what it creates (user ids, Sendbird template keys, Braze segment, campaign and canvas ids and
names) with a prefix of its own, narrows every campaign, canvas and segment it creates to its own
users, and reads back only the journal records that carry its prefix or its trace ids. Its report
strips the prefix again, so a scenario's expectations name the same paths in both modes.

Narrowing works through a custom attribute (`bsim_run`) every user of the run carries: without it
a broadcast, a scheduled campaign or an action trigger would reach the other world's users too.
Simulated runs and `bsim up`'s own world use `NO_NAMESPACE`, which changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.scenario import TIMELINE_ACTIONS, Scenario

RUN_ATTRIBUTE = "bsim_run"
TEMPLATE_KEY = "SENDBIRD_TEMPLATE_KEY"  # the Sendbird Webhook Template's placeholder for the template key
# the record attributes that name a user or an object a run created
OWNED_FIELDS = ("external_id", "user_id", "receiver", "template_key", "campaign_id", "canvas_id")


@dataclass(frozen=True)
class Namespace:
    run_id: str = ""

    @classmethod
    def fresh(cls) -> Namespace:
        """`r` and six hex digits from the OS's random source (not the scenario's seed: two runs of
        one scenario must not share ids)."""
        return cls("r" + secrets.token_hex(3))

    @property
    def prefix(self) -> str:
        return f"{self.run_id}-" if self.run_id else ""

    def __call__(self, name: str) -> str:
        return self.prefix + name

    def strip(self, name: str) -> str:
        return name.removeprefix(self.prefix) if self.prefix else name

    def members(self) -> dict[str, Any]:
        """The audience filter that matches this run's users and no one else."""
        return {"custom_attribute": {"custom_attribute_name": RUN_ATTRIBUTE, "comparison": "equals",
                                     "value": self.run_id}}

    # -- the scenario as the run creates it ----------------------------------------------------
    def apply(self, scenario: Scenario) -> Scenario:
        """The scenario with every template, segment, campaign and canvas renamed into the
        namespace, their references and the timeline's recipients with them, and every audience
        narrowed to the run's users. The population is left as it is: `build_population` names
        the users (see its `namespace`)."""
        if not self.run_id:
            return scenario
        data = scenario.model_dump()
        keys = {template.key for template in scenario.sendbird.templates}
        for template in data["sendbird"]["templates"]:
            template["key"], template["name"] = self(template["key"]), self(template["name"])
        braze = data["braze"]
        for segment in braze["segments"]:
            segment["name"] = self(segment["name"])
            segment["filter"] = self._narrow(segment.get("filter"))
        for campaign in braze["campaigns"]:
            campaign["id"], campaign["name"] = self(campaign["id"]), self(campaign["name"])
            campaign["audience"] = self._audience(campaign["audience"], narrow=True)
            if campaign["sendbird"] is not None:
                campaign["sendbird"]["template_key"] = self(campaign["sendbird"]["template_key"])
            self._webhook(campaign["webhook"], keys)
        for canvas in braze["canvases"]:
            canvas["id"], canvas["name"] = self(canvas["id"]), self(canvas["name"])
            canvas["audience"] = self._audience(canvas["audience"], narrow=True)
            for step in canvas["steps"]:
                self._step(step, keys)
        for behaviour in data["population"]["behaviours"]:  # a behaviour may be given to a segment's users
            behaviour["audience"] = self._audience(behaviour["audience"], narrow=False)
        for item in data["timeline"]:
            action = next(item[key] for key in TIMELINE_ACTIONS if item[key] is not None)
            if item["trigger_campaign"] is not None:
                action["campaign"] = self(action["campaign"])
            if item["trigger_canvas"] is not None:
                action["canvas"] = self(action["canvas"])
            recipients = action["recipients"]
            if recipients["segment"] is not None:
                recipients["segment"] = self(recipients["segment"])
            if recipients["users"] is not None:
                recipients["users"] = [self(user) for user in recipients["users"]]
        for fault in data["faults"]:  # a rule about one of the scenario's users or templates: about the run's
            match = fault["match"]
            if match.get("user") is not None:
                match["user"] = self(match["user"])
            if match.get("template") in keys:
                match["template"] = self(match["template"])
        for expectation in data["expectations"]:  # checked against the original scenario; kept valid here
            if expectation.get("content") is not None:
                expectation["content"]["template"] = self(expectation["content"]["template"])
        if isinstance(data.get("allow_empty_variables"), list):
            data["allow_empty_variables"] = [self(key) for key in data["allow_empty_variables"]]
        return Scenario.model_validate(data)

    def _step(self, step: dict[str, Any], keys: set[str]) -> None:
        message = step.get("webhook")
        if step["type"] == "message" and isinstance(message, dict) and isinstance(message.get("sendbird"), dict):
            message["sendbird"]["template_key"] = self(message["sendbird"]["template_key"])
        elif step["type"] == "message":
            self._webhook(message, keys)
        if step["type"] == "decision_split":
            step["audience"] = self._audience(step["audience"], narrow=False)
        if step["type"] == "audience_paths":
            for path in step["paths"]:
                path["audience"] = self._audience(path["audience"], narrow=False)

    def _webhook(self, webhook: Any, keys: set[str]) -> None:
        """A webhook written out (`template_id` and `replace`) names its Sendbird template itself:
        one of the scenario's is renamed with it; anything else is sent as written."""
        replace = webhook.get("replace") if isinstance(webhook, dict) else None
        if isinstance(replace, dict) and replace.get(TEMPLATE_KEY) in keys:
            replace[TEMPLATE_KEY] = self(replace[TEMPLATE_KEY])

    def _audience(self, audience: dict[str, Any] | None, narrow: bool) -> dict[str, Any] | None:
        """Rename the segment an audience names; `narrow` also keeps it to the run's users (entry
        audiences: a split inside a canvas only sees users who entered it)."""
        if audience is None:
            return {"segment": None, "filter": self.members()} if narrow else None
        audience = dict(audience)
        if audience.get("segment") is not None:
            audience["segment"] = self(audience["segment"])
        if narrow:
            audience["filter"] = self._narrow(audience.get("filter"))
        return audience

    def _narrow(self, spec: dict[str, Any] | None) -> dict[str, Any]:
        return self.members() if spec is None else {"AND": [spec, self.members()]}

    # -- what the run reads back ---------------------------------------------------------------
    def owner(self) -> OwnRecords:
        return OwnRecords(self.prefix)

    def plain(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records with the prefix taken off the names they hold, so everything the report
        reads from them (the content per template, the users in its samples and details) is named
        as in the scenario."""
        if not self.prefix:
            return records
        return [self._plain(rec) for rec in records]

    def _plain(self, rec: dict[str, Any]) -> dict[str, Any]:
        plain = {**rec, **{key: self.strip(rec[key]) for key in OWNED_FIELDS if isinstance(rec.get(key), str)}}
        match = rec.get("match")  # a fault rule's (`fault.added`): the user or template it was renamed to match
        if isinstance(match, dict):
            plain["match"] = {**match, **{key: self.strip(match[key]) for key in ("user", "template")
                                          if isinstance(match.get(key), str)}}
        return plain


NO_NAMESPACE = Namespace()


@dataclass
class OwnRecords:
    """Picks a run's records out of a shared journal: those naming one of its users or objects
    (by prefix), and those on a trace one of them started. Records arrive per service in journal
    order, where a trace's first record names its user (`campaign.send`, `webhook.accepted`,
    `message.read`), so one pass suffices."""

    prefix: str
    traces: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)  # the fault rules the run added: their records are its own

    def take(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for rec in records:
            trace = rec.get("trace_id")
            if any(isinstance(rec.get(key), str) and rec[key].startswith(self.prefix) for key in OWNED_FIELDS):
                if trace is not None:
                    self.traces.add(trace)
                kept.append(rec)
            elif (trace is not None and trace in self.traces) or rec.get("rule") in self.rules:
                kept.append(rec)
        return kept
