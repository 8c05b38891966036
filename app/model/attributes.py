"""The audience vocabulary journeys refer to: contact and account attributes, consent levels, events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

AttrType = Literal["text", "number", "date", "datetime", "boolean", "choice", "list"]


@dataclass(frozen=True)
class Attribute:
    """A field of a contact (or of its account) that segments, branches and tokens can use."""

    name: str
    type: AttrType
    label: str
    choices: tuple[str, ...] = ()


# Consent levels in increasing order (as in Dynamics 365 Marketing's data-protection settings).
CONSENT_LEVELS: tuple[str, ...] = (
    "not_set", "consent_given", "transactional", "subscriptions", "marketing", "profiling",
)
LOYALTY_TIERS: tuple[str, ...] = ("none", "bronze", "silver", "gold", "platinum")

CONTACT_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("first_name", "text", "First name"),
    Attribute("last_name", "text", "Last name"),
    Attribute("full_name", "text", "Full name"),
    Attribute("email", "text", "Email"),
    Attribute("mobile_phone", "text", "Mobile phone"),
    Attribute("city", "text", "Address 1: City"),
    Attribute("country", "text", "Address 1: Country"),
    Attribute("time_zone", "text", "Time zone"),
    Attribute("language", "text", "Language"),
    Attribute("birth_date", "date", "Birth date"),
    Attribute("created_on", "datetime", "Created on"),
    Attribute("consent_level", "choice", "Consent level", CONSENT_LEVELS),
    Attribute("subscription_lists", "list", "Subscription lists"),
    Attribute("loyalty_tier", "choice", "Loyalty tier", LOYALTY_TIERS),
    Attribute("lifetime_value", "number", "Lifetime value"),
    Attribute("last_purchase_date", "date", "Last purchase date"),
    Attribute("account", "text", "Account (company name)"),
)

ACCOUNT_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("account.name", "text", "Account name"),
    Attribute("account.industry", "text", "Account industry"),
    Attribute("account.size", "number", "Account size (employees)"),
    Attribute("account.city", "text", "Account city"),
)

STANDARD_ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in CONTACT_ATTRIBUTES + ACCOUNT_ATTRIBUTES}

# Operators of an if/then attribute test and of a segment query row, by the attribute types they apply to.
# Values: one value of the attribute's type; `in` a list of them; `between` [low, high] (inclusive);
# `in_last_days` / `not_in_last_days` a whole number of days before the moment of evaluation; none for the
# unary ones.
OPERATORS: dict[str, tuple[AttrType, ...]] = {
    "equals": ("text", "number", "date", "datetime", "boolean", "choice"),
    "not_equals": ("text", "number", "date", "datetime", "boolean", "choice"),
    "contains": ("text", "list"),
    "does_not_contain": ("text", "list"),
    "begins_with": ("text",),
    "ends_with": ("text",),
    "less_than": ("number", "date", "datetime"),
    "at_most": ("number", "date", "datetime"),
    "greater_than": ("number", "date", "datetime"),
    "at_least": ("number", "date", "datetime"),
    "between": ("number", "date", "datetime"),
    "in_last_days": ("date", "datetime"),
    "not_in_last_days": ("date", "datetime"),
    "in": ("text", "choice"),
    "contains_data": ("text", "number", "date", "datetime", "boolean", "choice", "list"),
    "does_not_contain_data": ("text", "number", "date", "datetime", "boolean", "choice", "list"),
}
UNARY_OPERATORS = frozenset({"contains_data", "does_not_contain_data"})
RANGE_OPERATORS = frozenset({"between"})
DAY_OPERATORS = frozenset({"in_last_days", "not_in_last_days"})

# Events a contact can do outside any message; goals and exit conditions name these.
CONTACT_EVENTS: tuple[str, ...] = (
    "purchase", "web_visit", "form_submitted", "unsubscribed", "subscribed", "registered", "renewed",
)

# Kinds of recorded contact interactions (the population's history); segment queries filter on them.
INTERACTION_KINDS: tuple[str, ...] = ("purchase", "web_visit", "form_submitted")

# Events on an earlier message that an if/then can wait for, by channel.
MESSAGE_EVENTS: dict[str, tuple[str, ...]] = {
    "email": ("delivered", "opened", "link_clicked", "bounced"),
    "sms": ("delivered", "link_clicked"),
    "push": ("delivered", "opened"),
}


# Words for event names and operators, wherever a person reads them (tile status lines, problems, editors).
EVENT_LABELS: dict[str, str] = {
    "delivered": "delivered", "opened": "opened", "link_clicked": "clicked a link", "clicked": "clicked a link",
    "bounced": "bounced", "purchase": "made a purchase", "web_visit": "visited the website",
    "form_submitted": "submitted a form", "unsubscribed": "unsubscribed", "subscribed": "subscribed",
    "registered": "registered", "renewed": "renewed",
}

OP_LABELS: dict[str, str] = {
    "equals": "equals", "not_equals": "does not equal", "contains": "contains",
    "does_not_contain": "does not contain", "begins_with": "begins with", "ends_with": "ends with",
    "less_than": "less than", "at_most": "at most", "greater_than": "greater than", "at_least": "at least",
    "between": "between", "in_last_days": "in the last", "not_in_last_days": "not in the last", "in": "is one of",
    "contains_data": "contains data", "does_not_contain_data": "does not contain data",
}


def event_label(name: str) -> str:
    """How an event reads: 'link_clicked' -> 'clicked a link'; a name we do not know, with spaces."""
    return EVENT_LABELS.get(name, name.replace("_", " "))


def attribute_label(name: str, custom: dict[str, str] | None = None) -> str:
    """An attribute's label ('lifetime_value' -> 'Lifetime value'), else its name with spaces."""
    found = lookup_attribute(name, custom)
    return found.label if found is not None and found.label != name else name.replace("_", " ").capitalize()


def attribute_names(custom: dict[str, str] | None = None) -> set[str]:
    """Every attribute name a token or condition may use: the standard ones and the project's custom ones."""
    names = set(STANDARD_ATTRIBUTES)
    if custom:
        names.update(custom)
    return names


def lookup_attribute(name: str, custom: dict[str, str] | None = None) -> Attribute | None:
    if name in STANDARD_ATTRIBUTES:
        return STANDARD_ATTRIBUTES[name]
    if custom and name in custom:
        t = custom[name]
        kind = cast(AttrType, t if t in ("text", "number", "date", "datetime", "boolean", "list") else "text")
        return Attribute(name, kind, name)
    return None
