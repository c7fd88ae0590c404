"""The ONE list of places where the fake Braze answers differently from Braze's OpenAPI description on purpose.

The description (tests/braze/spec) is generated from Braze's Postman collection and is older than Braze's
docs (braze-inc/braze-docs) in places; its error schema was written by the community project's own migration
script, not by Braze. Where the two disagree the fake follows the docs or a recorded real answer, and
`tests/braze/test_openapi_spec.py` skips exactly the check named here and nothing else (a listed entry that
no answer needs any more fails that test, so the list cannot go stale). docs/braze-fake.md repeats the list.

`where` names the spot in the answer with list indexes written `[]`: `users[].random_bucket`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecDeparture:
    operation: str  # "POST /users/track"
    status: str  # the answer's status: "2XX" (the success example's shape) or "400" (the response schema)
    where: str
    reason: str
    source: str  # the page (braze-inc/braze-docs path) or recorded answer that shows what the fake does


SPEC_DEPARTURES: tuple[SpecDeparture, ...] = (
    SpecDeparture(
        "POST /users/track", "400", "errors[]",
        "The description's Error schema types `errors` as strings; it comes from the description's migration "
        "script (openapi/migrations/2023-08-12-add-responses.ts), not from Braze. Braze's page shows each error "
        "as an object (`{\"type\", \"input_array\", \"index\"}`), as the fake answers.",
        "_docs/_api/endpoints/user_data/post_user_track.md (Responses: message with fatal errors)"),
    SpecDeparture(
        "POST /users/export/ids", "2XX", "users[].random_bucket",
        "The description's user export object lists no `random_bucket`; the sample output on the same page and "
        "Braze's current page carry it.",
        "_docs/_api/endpoints/export/user_data/post_users_identifier.md (Sample output)"),
    SpecDeparture(
        "POST /users/delete", "2XX", "message",
        "The example shows only `deleted`; a recorded real answer is `{\"deleted\":3,\"message\":\"success\"}`.",
        "jonallured/braze_ruby spec/fixtures/responses/delete_users/with_success/responds_with_created.yml"),
    SpecDeparture(
        "GET /campaigns/details", "2XX", "enabled",
        "The description is older than the docs: the current page adds `enabled` (whether the campaign is active).",
        "_docs/_api/endpoints/export/campaigns/get_campaign_details.md"),
    SpecDeparture(
        "GET /canvas/details", "2XX", "enabled",
        "The description is older than the docs: the current page adds `enabled` (whether the Canvas is active).",
        "_docs/_api/endpoints/export/canvas/get_canvas_details.md"),
)


@dataclass(frozen=True)
class HarnessAddition:
    """A key the fake adds to an answer that neither the description nor the docs have (docs/braze-fake.md)."""

    operation: str
    where: str
    reason: str


HARNESS_ADDITIONS: tuple[HarnessAddition, ...] = (
    HarnessAddition("GET /campaigns/details", "stats",
                    "harness contract: the campaign's send and conversion counts (docs/braze-fake.md, REST table)"),
    HarnessAddition("GET /canvas/details", "stats",
                    "harness contract: entries, completions and per-step counts (docs/braze-fake.md, REST table)"),
)
