"""The event contract: time parsing and per-line validation, with hand-computed values."""
import pytest

from policyengine.events.decode import BadEvent, EventDecoder
from policyengine.events.timestamps import TimestampError, format_ts, parse_ts


@pytest.mark.parametrize("text,us", [
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:01.5Z", 1_500_000),
    ("1970-01-01T08:00:00+08:00", 0),
    # 1970→2026: 56·365 + 14 leap days = 20454, + 304 days Jan–Oct = 20758 days; ·86400 + 8 h
    ("2026-11-01T08:00:00.250Z", (20758 * 86400 + 8 * 3600) * 1_000_000 + 250_000),
    ("1969-12-31T23:59:59Z", -1_000_000),
])
def test_rfc3339_to_microseconds(text, us):
    assert parse_ts(text) == us


def test_epoch_seconds_are_accepted():
    assert parse_ts(1_793_491_200) == 20758 * 86400 * 1_000_000
    assert parse_ts(1.25) == 1_250_000


@pytest.mark.parametrize("bad", ["2026-11-01T08:00:00", "yesterday", "", True, None, float("nan"), 1e20, [1]])
def test_bad_times_are_refused(bad):
    with pytest.raises(TimestampError):
        parse_ts(bad)


@pytest.mark.parametrize("us,text", [(0, "1970-01-01T00:00:00Z"), (250_000, "1970-01-01T00:00:00.250Z"),
                                     (1, "1970-01-01T00:00:00.000001Z"), (-1_000_000, "1969-12-31T23:59:59Z")])
def test_output_time_is_rfc3339_utc(us, text):
    assert format_ts(us) == text


@pytest.mark.parametrize("line,message", [
    (b"{", "invalid JSON"),
    (b"[1,2]", "an event must be a JSON object, found a list"),
    (b'{"ts":1,"user":"u"}', "missing required field `type`"),
    (b'{"type":"message","ts":1}', "missing required field `user`"),
    (b'{"type":"message","user":"u"}', "missing required field `ts`"),
    (b'{"type":"message","user":5,"ts":1}', "`user` must be a non-empty string, found a number"),
    (b'{"type":"","user":"u","ts":1}', "`type` must be a non-empty string"),
    (b'{"type":"message","user":"u","ts":1,"id":7}', "`id` must be a string, found a number"),
    (b'{"type":"message","user":"u","ts":1,"text":["a"]}', "`text` must be a string on `message` events, found a list"),
    (b'{"type":"message","user":"u","ts":"soon"}', "`ts` is not an RFC 3339 time"),
])
def test_bad_lines_say_what_is_wrong(line, message):
    decoder = EventDecoder({"message": {"text": "text"}})
    with pytest.raises(BadEvent) as err:
        decoder.decode(line)
    assert message in str(err.value)


def test_unknown_fields_and_types_pass_through():
    event, ts = EventDecoder({}).decode(b'{"type":"payment","user":"u","ts":2,"amount":{"v":1}}')
    assert event["amount"] == {"v": 1} and ts == 2_000_000
