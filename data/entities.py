"""The canonical entities and the rules that make one of their rows usable.

Each entity is declared once, as data: its key, its required and optional columns, which columns
hold dates and amounts, and which column must point at a customer. The mapping, the cleaning
queries and the data-health page all read these declarations, so a rule cannot drift between them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENGAGEMENT_KINDS", "ENTITIES", "EXCLUSION_REASONS", "EntitySpec", "entity_spec"]


@dataclass(frozen=True)
class EntitySpec:
    """One canonical entity (DESIGN.md section 2)."""

    name: str
    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    customer_ref: str | None = None
    #: columns whose absence in a row makes the row unusable (besides the key and customer_ref)
    needs_date: str | None = None
    needs_amount: str | None = None
    #: text labels used to group and filter (segment, region, channel): trimmed, blank = ``n/d``
    labels: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


#: Why a row is excluded, in the order the rules are tried: a row counts under the first rule it
#: breaks, so the counts add up to the rows excluded.
EXCLUSION_REASONS: tuple[str, ...] = (
    "missing_id",
    "missing_customer",
    "missing_date",
    "bad_date",
    "implausible_date",
    "bad_amount",
    "implausible_amount",
    "future_date",
    "duplicate_id",
    # referrals and engagements: rules that need the customers (``data.engagement``)
    "unknown_customer",
    "self_referral",
    "before_first_order",
    "referred_twice",
    "unknown_kind",
    # targets: a row that is not a usable target (the warnings name its row and column)
    "bad_target",
)

#: what a customer can do for a business besides buying (the ``kind`` of an engagement)
ENGAGEMENT_KINDS: tuple[str, ...] = (
    "review",
    "rating",
    "social_share",
    "social_post",
    "idea",
    "feedback",
    "survey",
    "new_product_trial",
    "data_consent",
)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            name="orders",
            key="order_id",
            required=("order_id", "customer_id", "order_date", "revenue"),
            optional=("cost",),
            dates=("order_date",),
            amounts=("revenue", "cost"),
            customer_ref="customer_id",
            needs_date="order_date",
            needs_amount="revenue",
        ),
        EntitySpec(
            name="order_lines",
            key="line_id",
            required=("order_id", "product_id", "revenue"),
            optional=("line_id", "quantity", "cost"),
            amounts=("revenue", "quantity", "cost"),
            needs_amount="revenue",
        ),
        EntitySpec(
            name="customers",
            key="customer_id",
            required=("customer_id",),
            optional=("name", "segment", "region", "channel", "acquired_at", "campaign_id"),
            dates=("acquired_at",),
            labels=("segment", "region", "channel"),
        ),
        EntitySpec(
            name="products",
            key="product_id",
            required=("product_id", "name"),
            optional=("category", "ladder_step"),
            amounts=("ladder_step",),
        ),
        EntitySpec(
            name="campaigns",
            key="campaign_id",
            required=("campaign_id", "name", "spend"),
            optional=("channel", "start_date", "end_date"),
            dates=("start_date", "end_date"),
            amounts=("spend",),
            needs_amount="spend",
            labels=("channel",),
        ),
        EntitySpec(
            name="leads",
            key="lead_id",
            required=("lead_id", "campaign_id", "created_at"),
            optional=("customer_id",),
            dates=("created_at",),
            needs_date="created_at",
        ),
        EntitySpec(
            name="tickets",
            key="ticket_id",
            required=("ticket_id", "customer_id", "opened_at"),
            optional=("cost",),
            dates=("opened_at",),
            amounts=("cost",),
            customer_ref="customer_id",
            needs_date="opened_at",
        ),
        EntitySpec(
            name="referrals",
            key="referral_id",
            required=("referrer_id", "referred_id", "referred_at"),
            optional=("referral_id", "reward_referrer", "reward_referred", "incremental"),
            dates=("referred_at",),
            amounts=("reward_referrer", "reward_referred"),
            customer_ref="referrer_id",
            needs_date="referred_at",
        ),
        EntitySpec(
            name="engagements",
            key="engagement_id",
            required=("customer_id", "occurred_at", "kind"),
            optional=("engagement_id", "reach", "influenced_customer_id", "status", "value", "idea_id"),
            dates=("occurred_at",),
            amounts=("reach", "value"),
            customer_ref="customer_id",
            needs_date="occurred_at",
        ),
        EntitySpec(
            name="targets",
            key="kpi",
            required=("kpi", "period", "value"),
            optional=("segment",),
        ),
    )
}


def entity_spec(name: str) -> EntitySpec:
    """The declaration of entity ``name``; ``ValueError`` for an unknown name."""
    try:
        return ENTITIES[name]
    except KeyError:
        known = ", ".join(ENTITIES)
        raise ValueError(f"Unknown entity {name!r}: the entities are {known}.") from None
