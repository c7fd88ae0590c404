"""The simulated population: Faker users with a country, a language, a time zone, custom attributes,
a history of events and purchases, and the behaviour their devices follow.

A scenario's report must come out byte for byte the same for a seed, so every draw comes from a
`random.Random` derived from the seed (one per concern, so that adding past events does not rename
anyone) and Faker is seeded per locale. Faker is far too slow to call per user at 100,000 users, so
each locale fills a pool of first and last names once and users draw from the pools.

`track_payloads` turns the population into `/users/track` bodies, which is how a run creates it in
Braze: through the public API and its validation, as a real app's back end would.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from itertools import accumulate
from random import Random
from typing import Any

from faker import Faker
from faker.config import AVAILABLE_LOCALES

from mocks.braze.audience.segments import Predicate, compile_filter
from mocks.braze.users.profiles import DEFAULT_ATTRIBUTES, Profile
from mocks.braze.users.track import MAX_OBJECTS
from mocks.braze.users.values import countries, custom_value, languages
from simulator.namespace import NO_NAMESPACE, RUN_ATTRIBUTE, Namespace
from simulator.scenario import AttributeSpec, Behaviour, Population

NAME_POOL = 2_000  # names drawn per locale; users pick first and last names from these
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # RFC 2606: never a real mailbox
LOCALES = {
    "US": "en_US", "GB": "en_GB", "DE": "de_DE", "FR": "fr_FR", "ES": "es_ES", "IT": "it_IT", "BR": "pt_BR",
    "JP": "ja_JP", "KR": "ko_KR", "IN": "en_IN", "MX": "es_MX", "CA": "en_CA", "AU": "en_AU", "NL": "nl_NL",
}
FALLBACK_LOCALE = "en_US"
# Zones weighted roughly by population; countries not listed take their first zone in tzdata's zone.tab.
TIME_ZONES: dict[str, tuple[tuple[str, float], ...]] = {
    "US": (("America/New_York", 47), ("America/Chicago", 29), ("America/Denver", 7), ("America/Phoenix", 2),
           ("America/Los_Angeles", 15)),
    "CA": (("America/Toronto", 60), ("America/Vancouver", 14), ("America/Edmonton", 12), ("America/Winnipeg", 7),
           ("America/Halifax", 7)),
    "BR": (("America/Sao_Paulo", 80), ("America/Fortaleza", 12), ("America/Manaus", 8)),
    "MX": (("America/Mexico_City", 80), ("America/Tijuana", 10), ("America/Cancun", 10)),
    "AU": (("Australia/Sydney", 40), ("Australia/Melbourne", 33), ("Australia/Brisbane", 14),
           ("Australia/Perth", 9), ("Australia/Adelaide", 4)),
    "ES": (("Europe/Madrid", 95), ("Atlantic/Canary", 5)),
    "GB": (("Europe/London", 1),), "DE": (("Europe/Berlin", 1),), "FR": (("Europe/Paris", 1),),
    "IT": (("Europe/Rome", 1),), "JP": (("Asia/Tokyo", 1),), "KR": (("Asia/Seoul", 1),),
    "IN": (("Asia/Kolkata", 1),), "NL": (("Europe/Amsterdam", 1),),
}
FALLBACK_ZONE = "UTC"
# the fields build_population sets itself; a custom attribute of the same name would overwrite them
OWN_FIELDS = frozenset({"external_id", "first_name", "last_name", "email", "country", "language", "time_zone"})


@dataclass(slots=True)
class SimUser:
    external_id: str
    sendbird_id: str
    first_name: str
    last_name: str
    email: str
    country: str
    language: str
    time_zone: str
    custom_attributes: dict[str, Any]
    past_events: list[tuple[str, datetime, dict[str, Any]]]
    purchases: list[dict[str, Any]]
    behaviour: Behaviour


# -- places -----------------------------------------------------------------------------------------
@cache
def locale_for(country: str) -> str:
    """The Faker locale of a country: the table, else a Faker locale of that country, else en_US."""
    if country in LOCALES:
        return LOCALES[country]
    for locale in sorted(AVAILABLE_LOCALES):
        language, _, region = locale.partition("_")
        if region == country and language in languages():
            return locale
    return FALLBACK_LOCALE


@cache
def _zone_tab() -> dict[str, str]:
    """Country -> its first zone in tzdata's zone.tab (the zone listed first is the most populous)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    first: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, zone = line.split("\t")[:3]
            first.setdefault(code, zone)
    return first


@cache
def time_zones_for(country: str) -> tuple[list[str], list[float]]:
    """A country's IANA zones and their cumulative weights."""
    table = TIME_ZONES.get(country) or ((_zone_tab().get(country, FALLBACK_ZONE), 1),)
    return [zone for zone, _ in table], list(accumulate(weight for _, weight in table))


# -- names and emails -------------------------------------------------------------------------------
def _slug(text: str, limit: int = 20) -> str:
    """Lower-case ASCII letters and digits of `text` (accents dropped, other scripts vanish)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())[:limit]


@dataclass
class _NamePool:
    first: list[tuple[str, str]]  # (name, slug)
    last: list[tuple[str, str]]


def _name_pool(locale: str, seed: int, size: int) -> _NamePool:
    fake = Faker(locale)
    fake.seed_instance(f"{seed}:{locale}")
    first = [fake.first_name() for _ in range(size)]
    last = [fake.last_name() for _ in range(size)]
    return _NamePool([(n, _slug(n)) for n in first], [(n, _slug(n)) for n in last])


# -- drawing ----------------------------------------------------------------------------------------
def _weighted(rng: Random, options: list[Any], cum_weights: list[float]) -> Any:
    """`rng.choices(options, cum_weights=...)[0]`, without its per-call overhead (it dominated the build)."""
    return options[bisect.bisect(cum_weights, rng.random() * cum_weights[-1], 0, len(options) - 1)]


def _cumulative(weights: Mapping[Any, float], what: str) -> tuple[list[Any], list[float]]:
    if any(w < 0 or not math.isfinite(w) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"{what} weights must be finite, non-negative and add up to more than 0")
    return list(weights), list(accumulate(weights.values()))


def _attribute_drawer(name: str, spec: AttributeSpec):
    if spec.boolean is not None:
        chance = spec.boolean
        return lambda rng: rng.random() < chance
    if spec.values is not None:
        options, cum = _cumulative(spec.values, f"custom attribute {name!r}")
        return lambda rng: _weighted(rng, options, cum)
    low, high = sorted(spec.range)
    if spec.integer:
        low_int, high_int = math.ceil(low), math.floor(high)
        if low_int > high_int:
            raise ValueError(f"custom attribute {name!r}: no integer in range [{low}, {high}]")
        return lambda rng: rng.randint(low_int, high_int)
    return lambda rng: rng.uniform(low, high)


def _before(rng: Random, start: datetime, within: float) -> datetime:
    """A time uniformly within `within` seconds before `start`, to the millisecond."""
    return start - timedelta(milliseconds=int(rng.random() * within * 1000))


def build_population(spec: Population, seed: int, start: datetime,
                     segments: Mapping[str, dict[str, Any]] | None = None,
                     namespace: Namespace = NO_NAMESPACE) -> list[SimUser]:
    """`spec.size` users, the same ones for the same seed. External ids are `prefix0`..`prefix{size-1}`.

    `segments` (segment name -> filter) resolves behaviours whose audience names a saved segment.
    A live run's `namespace` prefixes the external and Sendbird ids (and makes the emails its own)
    and tags each user with the run's attribute; the draws, and so the users, stay the same.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    known = countries()
    weights = {code.upper(): w for code, w in spec.countries.items()}
    unknown = sorted(code for code in weights if code not in known)
    if unknown:
        raise ValueError(f"not ISO-3166 alpha-2 country codes: {', '.join(unknown)}")
    clashes = sorted(OWN_FIELDS.intersection(spec.custom_attributes))
    if spec.id_mapping == "sendbird_id" and "sendbird_id" in spec.custom_attributes:
        clashes.append("sendbird_id")
    if namespace.run_id and RUN_ATTRIBUTE in spec.custom_attributes:
        clashes.append(RUN_ATTRIBUTE)
    if clashes:
        raise ValueError(f"custom attributes may not be named {', '.join(clashes)}: the population sets them")

    codes, cum = _cumulative(weights, "country")
    user_countries = Random(f"{seed}:countries").choices(codes, cum_weights=cum, k=spec.size)
    per_locale: dict[str, int] = {}
    for country in user_countries:
        locale = locale_for(country)
        per_locale[locale] = per_locale.get(locale, 0) + 1
    pools = {locale: _name_pool(locale, seed, min(NAME_POOL, n)) for locale, n in sorted(per_locale.items())}
    drawers = {name: _attribute_drawer(name, a) for name, a in spec.custom_attributes.items()}
    purchases = spec.past_purchases
    prefix_slug = re.sub(r"[^a-z0-9]+", "-", namespace(spec.external_id_prefix).lower()).strip("-")

    names = Random(f"{seed}:names")
    attributes = Random(f"{seed}:attributes")
    unset = Random(f"{seed}:unset")  # its own: leaving some users without an attribute changes no one's values
    unset_shares = {name: a.unset for name, a in spec.custom_attributes.items() if a.unset}
    history = Random(f"{seed}:history")
    users: list[SimUser] = []
    for i, country in enumerate(user_countries):
        external_id = namespace(f"{spec.external_id_prefix}{i}")
        sendbird_id = namespace(f"sb-{spec.external_id_prefix}{i}") if spec.id_mapping == "sendbird_id" else external_id
        locale = locale_for(country)
        pool = pools[locale]
        first, first_slug = pool.first[names.randrange(len(pool.first))]
        last, last_slug = pool.last[names.randrange(len(pool.last))]
        local_part = ".".join(p for p in (first_slug, last_slug, f"{prefix_slug}{i}") if p)
        email = f"{local_part}@{EMAIL_DOMAINS[names.randrange(len(EMAIL_DOMAINS))]}"
        time_zone = _weighted(names, *time_zones_for(country))

        custom: dict[str, Any] = {"sendbird_id": sendbird_id} if spec.id_mapping == "sendbird_id" else {}
        for name, draw in drawers.items():
            value = draw(attributes)
            if name not in unset_shares or unset.random() >= unset_shares[name]:
                custom[name] = value
        if namespace.run_id:
            custom[RUN_ATTRIBUTE] = namespace.run_id

        events = [(event.name, _before(history, start, event.within), {})
                  for event in spec.past_events for _ in range(history.randint(*sorted(event.per_user)))]
        events.sort(key=lambda e: e[1])
        bought = []
        if purchases is not None and history.random() < purchases.probability:
            low, high = sorted(purchases.price)
            bought.append({"product_id": purchases.products[history.randrange(len(purchases.products))],
                           "currency": purchases.currency, "price": round(history.uniform(low, high), 2),
                           "quantity": 1, "time": _before(history, start, purchases.within)})
        users.append(SimUser(external_id, sendbird_id, first, last, email, country, locale.partition("_")[0],
                             time_zone, custom, events, bought, behaviour=None))  # assigned below
    for user, behaviour in zip(users, _assign(spec, users, seed, start, segments or {}), strict=True):
        user.behaviour = behaviour
    return users


# -- behaviours -------------------------------------------------------------------------------------
def _audience_predicate(behaviour: Behaviour, segments: Mapping[str, dict[str, Any]]) -> Predicate:
    audience = behaviour.audience
    parts = []
    if audience.segment is not None:
        if audience.segment not in segments:
            raise ValueError(f"behaviour {behaviour.name!r}: unknown segment {audience.segment!r}")
        parts.append(segments[audience.segment])
    if audience.filter is not None:
        parts.append(audience.filter)
    if not parts:
        raise ValueError(f"behaviour {behaviour.name!r}: an audience needs a segment or a filter")
    return compile_filter(parts[0] if len(parts) == 1 else {"AND": parts})


def _profile(user: SimUser, start: datetime) -> Profile:
    """A throwaway Braze profile of a user as /users/track would store it, for evaluating audiences."""
    profile = Profile(braze_id=user.external_id, created_at=start, random_bucket_number=0,
                      external_id=user.external_id,
                      attributes={key: getattr(user, key) for key in OWN_FIELDS if key != "external_id"})
    for name, value in user.custom_attributes.items():
        if name in DEFAULT_ATTRIBUTES:
            profile.attributes[name] = value
        else:
            profile.custom[name] = custom_value(name, value)
    for name, when, properties in user.past_events:
        profile.record_event(name, when, properties)
    return profile


def _assign(spec: Population, users: list[SimUser], seed: int, start: datetime,
            segments: Mapping[str, dict[str, Any]]) -> list[Behaviour]:
    """Audience behaviours take the users they match, in order; the rest are shuffled and split by
    `share` of the whole population; the last behaviour without share (or, failing that, the last
    without audience) takes the remainder."""
    chosen: list[Behaviour | None] = [None] * len(users)
    audiences = [(b, _audience_predicate(b, segments)) for b in spec.behaviours if b.audience is not None]
    if audiences:
        for i, user in enumerate(users):
            profile = _profile(user, start)
            for behaviour, matches in audiences:
                if matches(profile, start):
                    chosen[i] = behaviour
                    break
    free = [b for b in spec.behaviours if b.audience is None]
    rest = [i for i, b in enumerate(chosen) if b is None]
    if rest and not free:
        raise ValueError(f"{len(rest)} users match no behaviour's audience: add a behaviour without audience")
    Random(f"{seed}:behaviours").shuffle(rest)
    shared = [b for b in free if b.share is not None]
    remainder = next((b for b in reversed(free) if b.share is None), free[-1] if free else None)
    taken = 0
    cumulative = 0.0
    for behaviour in shared:
        if behaviour is remainder:
            continue
        cumulative += behaviour.share
        upto = min(len(rest), round(cumulative * len(users)))
        for i in rest[taken:upto]:
            chosen[i] = behaviour
        taken = max(taken, upto)
    for i in rest[taken:]:
        chosen[i] = remainder
    return chosen


# -- Braze ------------------------------------------------------------------------------------------
def iso(when: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as Braze's SDKs send times."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def track_payloads(users: list[SimUser], now: datetime) -> list[dict[str, Any]]:
    """`/users/track` bodies creating `users` with their history, at most 75 objects each.

    Times after `now` are sent as `now`: Braze would read a future time as now anyway, and saying so
    keeps the request honest.
    """
    payloads: list[dict[str, Any]] = []
    body: dict[str, list[dict[str, Any]]] = {}
    count = 0

    def add(array: str, obj: dict[str, Any]) -> None:
        nonlocal body, count
        if count == MAX_OBJECTS:
            payloads.append(body)
            body, count = {}, 0
        body.setdefault(array, []).append(obj)
        count += 1

    for user in users:
        add("attributes", {"external_id": user.external_id, "first_name": user.first_name,
                           "last_name": user.last_name, "email": user.email, "country": user.country,
                           "language": user.language, "time_zone": user.time_zone, **user.custom_attributes})
        for name, when, properties in user.past_events:
            add("events", {"external_id": user.external_id, "name": name, "time": iso(min(when, now)),
                           "properties": properties})
        for purchase in user.purchases:
            add("purchases", {"external_id": user.external_id, **purchase, "time": iso(min(purchase["time"], now))})
    if count:
        payloads.append(body)
    return payloads
