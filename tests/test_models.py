"""The value types' rules for untrusted text: NUL is dropped from every field, whatever the field."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nps_bot.models import Agent, Customer, Interaction

# Short text where NUL, whitespace and upper case are likely, so every rule meets them together.
text = st.text(alphabet=st.sampled_from(["\x00", " ", "a", "B", "@", ",", "1"]), max_size=8)
maybe_text = st.none() | text


def dropped(value: Any) -> Any:
    """The rule as first written: drop NUL from each field's input, then validate."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {dropped(k): dropped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dropped(v) for v in value]
    return value


def outcome(model: type[Any], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return [(e["loc"], e["type"]) for e in exc.errors()]


customers = st.fixed_dictionaries(
    {},
    optional={
        "email": maybe_text,
        "name": maybe_text,
        "external_id": maybe_text,
        "language": maybe_text,
        "attributes": st.dictionaries(text, text | st.integers(), max_size=3),
    },
)
interactions = st.fixed_dictionaries(
    {
        "connector": text,
        "event_id": text,
        "ticket_id": text,
        "customer": customers,
    },
    optional={
        "event": st.sampled_from(["closed", "clo\x00sed", "re\x00opened", "x"]),
        "subject": maybe_text,
        "team": maybe_text,
        "tags": st.lists(text, max_size=3) | text,
        "kind": st.sampled_from(["nps", "c\x00sat", "ces"]),
        "agent": st.none() | st.fixed_dictionaries({}, optional={"id": maybe_text, "name": maybe_text}),
        "reply_context": st.dictionaries(text, text, max_size=2),
    },
)


@settings(max_examples=300)
@given(interactions)
def test_nul_is_dropped_as_if_each_field_were_cleaned_first(data: dict[str, Any]) -> None:
    # Clean input is validated once; input with NUL again without it. Either way the result (or the
    # error) is the one of cleaning every field before validating it.
    expected = outcome(Interaction, {key: dropped(value) for key, value in data.items()})
    assert outcome(Interaction, data) == expected


def test_nul_in_nested_models_built_first_is_dropped_too() -> None:
    customer = Customer(email=" Ana\x00@Example.com ", name="A\x00na", attributes={"pl\x00an": "pro\x00"})
    agent = Agent(id="4\x002", name="\x00Ona")
    made = Interaction(connector="generic", event_id="e\x00", ticket_id="T\x00", customer=customer, agent=agent)
    assert (made.event_id, made.ticket_id) == ("e", "T")
    assert (customer.email, customer.name, customer.attributes) == ("ana@example.com", "Ana", {"plan": "pro"})
    assert (agent.id, agent.name) == ("42", "Ona")
