"""The ONE list of places where the fake Braze answers differently from Braze's OpenAPI description on purpose.

The description (tests/braze/spec) is generated from Braze's Postman collection and is older than Braze's
docs (braze-inc/braze-docs) in places; its error schema was written by the community project's own migration
script, not by Braze. Where the two disagree the fake follows the docs or a recorded real answer, and
`tests/braze/test_openapi_spec.py` skips exactly the check named here and nothing else (a listed entry that
no answer needs any more fails that test, so the list cannot go stale). docs/braze-fake.md repeats the list.

`where` names the spot in the answer with list indexes written `[]` and map keys (ids) `<id>`:
`users[].random_bucket`, `data.stats[].variant_stats.<id>.revenue`; `status 202` names the status code itself.
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
    SpecDeparture(
        "POST /users/merge", "2XX", "status 202",
        "The description's responses list no 202, yet its own text, like the docs page, says \"There are two "
        "status code responses for this endpoint: 202 and 400\" and shows the 202 body `{\"message\": \"success\"}`.",
        "_docs/_api/endpoints/user_data/post_users_merge.md (Response)"),
    SpecDeparture(
        "POST /users/identify", "2XX", "errors",
        "The example shows only the plain success. Braze's Server Responses add `errors` to a success with "
        "non-fatal errors, and an earlier version of the identify page says an object that cannot be applied "
        "\"will return a non-fatal error. See Server Responses for details\": the fake reports an alias no profile "
        "has there.",
        "_docs/_api/errors.md (Server Responses); _docs/_api/endpoints/user_data/post_user_identify.md"),
    SpecDeparture(
        "POST /users/alias/new", "2XX", "errors",
        "The example shows only the plain success. Braze's Server Responses add `errors` to a success with "
        "non-fatal errors; the page says an alias for an `external_id` no user has \"will not be added to any "
        "users\": the fake reports that object there.",
        "_docs/_api/errors.md (Server Responses); _docs/_api/endpoints/user_data/post_user_alias.md"),
    SpecDeparture(
        "GET /sends/data_series", "2XX", "data",
        "The description's Response block lost its opening lines: it starts inside the per-channel stats object, "
        "so it states no `data`. The docs page shows `data: [{time, messages: {<channel>: [{variation_name, sent, "
        "...}]}, conversions..., unique_recipients, revenue}]`, as the fake answers.",
        "_docs/_api/endpoints/export/campaigns/get_send_analytics.md (Response)"),
    SpecDeparture(
        "GET /sends/data_series", "2XX", "message",
        "The same truncated block: the docs page's Response starts with `\"message\": (required, string)`.",
        "_docs/_api/endpoints/export/campaigns/get_send_analytics.md (Response)"),
    SpecDeparture(
        "GET /canvas/data_series", "2XX", "data.stats[].variant_stats.<id>.revenue",
        "The description types a variant's revenue `(int)`; the docs page types it `(float)` \"the number of dollars "
        "of revenue (USD)\", as every other revenue, and the fake answers a float.",
        "_docs/_api/endpoints/export/canvas/get_canvas_analytics.md (Response)"),
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
