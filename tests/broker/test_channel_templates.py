"""Channel templates (broker/channel_templates.py): the sandbox refuses internals, `tojson` makes valid
JSON of any alert's values, syntax errors name their line, renderings are capped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.channel_delivery import ChannelFailed, messages
from smartby.broker.channel_samples import SAMPLES, sample_alert
from smartby.broker.channel_templates import MOST_RENDERED, RenderError, check_template, render, tojson
from smartby.ngsild.errors import BadRequestData
from smartby.records.channels import Channel

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ALERTS = st.fixed_dictionaries(
    {"id": st.text(min_size=1), "type": st.just("Alert")},
    optional={
        name: JSON_VALUES
        for name in (
            "category",
            "subCategory",
            "severity",
            "alertSource",
            "description",
            "validFrom",
            "validTo",
        )
    },
)


@given(JSON_VALUES)
def test_tojson_writes_any_value_as_json(value: Any) -> None:
    assert json.loads(render("{{ v | tojson }}", {"v": value})) == value


@given(ALERTS)
def test_the_built_in_webhook_templates_make_valid_json_of_any_alert(alert: dict[str, Any]) -> None:
    for name in ("slack", "teams", "sms"):
        channel = Channel(name, "webhook", ("http://x.example/",), SAMPLES[name].template)
        [message] = messages(channel, [alert], "2026-12-07T22:00:00Z", "urn:ngsi-ld:Subscription:s")
        assert isinstance(json.loads(message.body), dict)
    mail = Channel("m", "email", ("a@b.example",), SAMPLES["email"].template, SAMPLES["email"].subject)
    [message] = messages(mail, [alert], "2026-12-07T22:00:00Z", "urn:ngsi-ld:Subscription:s")
    assert "\n" not in message.subject and alert["id"] in message.body


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ alert.__class__ | tojson }}",
        "{{ alert.__init__.__globals__ }}",
        "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
        "{{ alert.update({'x': 1}) }}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_the_sandbox_refuses_internals(template: str) -> None:
    with pytest.raises(RenderError) as error:
        render(template, {"alert": sample_alert("now")})
    assert "<class" not in str(error.value) and "os" not in str(error.value).split()


def test_missing_names_render_empty_and_null() -> None:
    assert render("[{{ alert.nothing }}]{{ alert.nothing | tojson }}", {"alert": {}}) == "[]null"
    assert tojson('a"b\n') == '"a\\"b\\n"'


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(BadRequestData) as error:
        check_template('{\n  "a": {{ alert.x }\n}', "template")
    assert "line 2" in error.value.detail
    with pytest.raises(BadRequestData):
        check_template("x" * 40_000, "template")


def test_renderings_are_capped() -> None:
    with pytest.raises(RenderError) as error:
        render("{% for i in range(90000) %}0123456789{% endfor %}", {})
    assert str(MOST_RENDERED) in str(error.value)


def test_a_json_channel_whose_body_is_not_json_fails_with_its_reason() -> None:
    channel = Channel("c", "webhook", ("http://x.example/",), '{"text": {{ alert.description }}}')
    with pytest.raises(ChannelFailed) as error:
        messages(channel, [sample_alert("now")], "now", "s")
    assert "not valid JSON" in str(error.value)
    plain = Channel("c", "webhook", ("http://x.example/",), "{{ alert.severity }}", content_type="text/plain")
    assert messages(plain, [sample_alert("now")], "now", "s")[0].body == "high"
