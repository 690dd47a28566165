"""UTC conversions the board stamps messages with (userland/lib/utc.py),
checked against CPython's datetime: every day of 1970..9999 boundaries,
leap years, month ends, and the syntaxes of FIX, ISO 20022 and SWIFT MT,
with every malformed form refused."""
import datetime
import random

import pytest

from userland.lib import utc

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ref(ms):
    return EPOCH + datetime.timedelta(milliseconds=ms)


def test_the_civil_date_of_every_day_agrees_with_datetime():
    # every day of 1970..2500 (two 400-year eras' boundaries), then the last days of 9999
    last = utc.days_from_civil(9999, 12, 31)
    for z in list(range(utc.days_from_civil(2500, 12, 31) + 1)) + list(range(last - 1000, last + 1)):
        day = datetime.date(1970, 1, 1) + datetime.timedelta(days=z)
        assert utc.civil_from_days(z) == (day.year, day.month, day.day), z
        assert utc.days_from_civil(day.year, day.month, day.day) == z


def test_random_times_format_as_datetime_does():
    rng = random.Random(20261202)
    for _ in range(20000):
        ms = rng.randrange(utc.MAX_MS + 1)
        r = ref(ms)
        assert utc.civil(ms) == (r.year, r.month, r.day, r.hour, r.minute, r.second, r.microsecond // 1000)
        assert utc.fix(ms) == r.strftime("%Y%m%d-%H:%M:%S.") + "%03d" % (r.microsecond // 1000)
        assert utc.iso(ms) == r.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (r.microsecond // 1000)
        assert utc.iso_date(ms) == "%04d-%02d-%02d" % (r.year, r.month, r.day)
        assert utc.mt_date(ms) == "%02d%02d%02d" % (r.year % 100, r.month, r.day)
        assert utc.parse_fix(utc.fix(ms)) == ms
        assert utc.parse_iso(utc.iso(ms)) == ms


@pytest.mark.parametrize("y,leap", [(1972, True), (2000, True), (2024, True), (1900 + 200, False),
                                    (2100, False), (2400, True), (2023, False), (9996, True)])
def test_leap_years_and_february(y, leap):
    assert utc.is_leap(y) is leap
    assert utc.month_days(y, 2) == (29 if leap else 28)
    if leap:
        assert utc.iso(utc.from_civil(y, 2, 29, 23, 59, 59, 999)) == "%04d-02-29T23:59:59.999Z" % y
    else:
        with pytest.raises(utc.TimeError, match="not a date"):
            utc.from_civil(y, 2, 29)


def test_month_ends_roll_over():
    for m in range(1, 13):
        last = utc.month_days(2026, m)
        end = utc.from_civil(2026, m, last, 23, 59, 59, 999)
        nxt = (2026 + m // 12, m % 12 + 1, 1)
        assert utc.civil(end + 1)[:3] == nxt
        with pytest.raises(utc.TimeError):
            utc.from_civil(2026, m, last + 1)


def test_the_range_ends():
    assert utc.iso(0) == "1970-01-01T00:00:00.000Z"
    assert utc.fix(utc.MAX_MS) == "99991231-23:59:59.999"
    for bad in (-1, utc.MAX_MS + 1, 1.5, True, None, "0"):
        with pytest.raises(utc.TimeError):
            utc.civil(bad)


def test_fix_timestamps_with_every_precision_fix_allows():
    base = utc.from_civil(2026, 12, 2, 5, 30, 7)
    assert utc.parse_fix("20261202-05:30:07") == base
    assert utc.parse_fix("20261202-05:30:07.1") == base + 100
    assert utc.parse_fix("20261202-05:30:07.123") == base + 123
    assert utc.parse_fix("20261202-05:30:07.123456") == base + 123          # micro: truncated
    assert utc.parse_fix("20261202-05:30:07.123456789") == base + 123       # nano
    assert utc.parse_fix("20161231-23:59:60") == utc.from_civil(2017, 1, 1)  # leap second


@pytest.mark.parametrize("text,why", [
    ("", "not YYYYMMDD"), ("2026120205:30:07", "not YYYYMMDD"), ("20261202-05:30:7", "not YYYYMMDD"),
    ("20261302-05:30:07", "not a date"), ("20260230-05:30:07", "not a date"),
    ("20261202-24:00:00", "not a time of day"), ("20261202-05:60:00", "not a time of day"),
    ("20261202-05:30:61", "not a time of day"), ("2026120x-05:30:07", "2-digit day"),
    ("20261202-05:30:07.", "1 to 9 digits"), ("20261202-05:30:07.1234567890", "1 to 9 digits"),
    ("20261202-05:30:07Z", "after the time"), ("20261202-05:30:07.123 ", "after the time"),
    ("19691231-23:59:59", "not a date"), ("2026\u0663202-05:30:07", "2-digit month"),
])
def test_malformed_fix_timestamps_are_refused_with_the_reason(text, why):
    with pytest.raises(utc.TimeError, match=why):
        utc.parse_fix(text)


def test_iso_date_times_with_zones():
    t = utc.from_civil(2026, 12, 2, 5, 30)
    assert utc.parse_iso("2026-12-02T05:30:00Z") == t
    assert utc.parse_iso("2026-12-02T06:30:00+01:00") == t
    assert utc.parse_iso("2026-12-01T23:00:00-06:30") == t
    assert utc.parse_iso("2026-12-02T05:30:00.5Z") == t + 500
    assert utc.parse_iso("2026-12-02T05:30:00.123456+00:00") == t + 123
    for text in ("2026-12-02T06:30:00+01:00", "2026-12-02T05:30:00.123456+00:00"):
        r = datetime.datetime.fromisoformat(text)
        assert utc.parse_iso(text) == int((r - EPOCH).total_seconds() * 1000)


@pytest.mark.parametrize("text,why", [
    ("2026-12-02T05:30:00", "no zone"), ("2026-12-02 05:30:00Z", "not YYYY-MM-DDTHH"),
    ("2026-12-02T05:30:00+0100", "not a zone"), ("2026-12-02T05:30:00+15:00", "not -14:00"),
    ("2026-12-02T05:30:00z", "not a zone"), ("2026-02-30T05:30:00Z", "not a date"),
    ("1970-01-01T00:30:00+01:00", "outside 1970"), ("2026-12-02", "not YYYY-MM-DDTHH"),
    (b"2026-12-02T05:30:00Z", "not YYYY-MM-DDTHH"),
])
def test_malformed_iso_date_times_are_refused_with_the_reason(text, why):
    with pytest.raises(utc.TimeError, match=why):
        utc.parse_iso(text)


def test_micropython_gives_the_same_answers():
    from tests.host import upy
    rng = random.Random(7)
    calls = []
    for ms in [0, 1, utc.MAX_MS, 951782400000, 4107542399999] + [rng.randrange(utc.MAX_MS + 1) for _ in range(3000)]:
        calls += [("civil", [ms]), ("fix", [ms]), ("iso", [ms]), ("iso_date", [ms]), ("mt_date", [ms])]
        calls += [("parse_fix", [utc.fix(ms)]), ("parse_iso", [utc.iso(ms)])]
    for bad in (-1, utc.MAX_MS + 1, 1.5, None, "0"):
        calls.append(("civil", [bad]))
    for text in ["", "20261202-05:30:07.123456789", "20161231-23:59:60", "20260230-05:30:07",
                 "20261202-05:30:07.", "20261202-05:30:07Z", "2026120x-05:30:07", "20261202-24:00:00"]:
        calls.append(("parse_fix", [text]))
    for text in ["2026-12-02T05:30:00", "2026-12-01T23:00:00-06:30", "2026-12-02T05:30:00+15:00",
                 "2026-12-02T05:30:00z", "1970-01-01T00:30:00+01:00", "2026-12-02T05:30:00.5Z"]:
        calls.append(("parse_iso", [text]))
    for y in (1970, 2000, 2100, 2400, 9999):
        calls += [("is_leap", [y]), ("days_from_civil", [y, 2, 28]), ("from_civil", [y, 2, 29, 1, 2, 3, 4])]
    mine = upy.call_each("userland.lib.utc", calls)
    assert mine == upy.call_each_cpython(utc, calls)
