"""UTC time as the board writes and reads it for others: milliseconds since
1970-01-01T00:00:00Z (an int, never a float) to and from the civil calendar
and the syntaxes of the formats the gateway speaks. Plain Python
(MicroPython and CPython alike); no time zone but UTC, no leap-second
table (POSIX time: a leap second read as :60 is the next second's first).

    fix(1764653400123)            -> "20251202-05:30:00.123"     FIX UTCTimestamp (52, 60)
    iso(1764653400123)            -> "2025-12-02T05:30:00.123Z"  ISO 20022 ISODateTime (CreDtTm)
    iso_date(1764653400123)       -> "2025-12-02"                ISO 20022 ISODate
    mt_date(1764653400123)        -> "251202"                    SWIFT MT YYMMDD (:32A:)
    http(1764653400123)           -> "Tue, 02 Dec 2025 05:30:00 GMT"  HTTP's IMF-fixdate (Date)
    parse_fix("20251202-05:30:00.123")     -> 1764653400123
    parse_iso("2025-12-02T06:30:00+01:00") -> 1764653400000
    civil(ms) -> (year, month, day, hour, minute, second, millisecond)

The calendar is the proleptic Gregorian one, years 1970..9999 (what all
three formats can carry); `days_from_civil` and `civil_from_days` are the
era arithmetic of H. Hinnant's "chrono-compatible low-level date
algorithms", written out here for plain ints. Every parse refuses what is
not exactly the format's syntax with TimeError (a ValueError) saying what
was wrong; nothing is guessed (a time with no zone is refused by
parse_iso: it says nothing about UTC).
"""

from userland.lib.asciinum import is_digits

MS_PER_DAY = 86400000
MIN_YEAR = 1970
MAX_YEAR = 9999
MAX_MS = 253402300799999        # 9999-12-31T23:59:59.999Z
_DAYS_IN = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class TimeError(ValueError):
    pass


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def month_days(y, m):
    return 29 if m == 2 and is_leap(y) else _DAYS_IN[m - 1]


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the date y-m-d (checked)."""
    if not (MIN_YEAR <= y <= MAX_YEAR and 1 <= m <= 12 and 1 <= d <= month_days(y, m)):
        raise TimeError("%04d-%02d-%02d is not a date of %d..%d" % (y, m, d, MIN_YEAR, MAX_YEAR))
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400                                   # 0..399
    doy = (153 * (m + (9 if m <= 2 else -3)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy         # 0..146096
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(year, month, day) of day z since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _check(ms):
    if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= MAX_MS:
        raise TimeError("%s is not a UTC time in ms of 1970..9999" % (repr(ms)[:32],))
    return ms


def civil(ms):
    """(year, month, day, hour, minute, second, millisecond) of `ms`."""
    days, rest = divmod(_check(ms), MS_PER_DAY)
    y, m, d = civil_from_days(days)
    secs, milli = divmod(rest, 1000)
    return y, m, d, secs // 3600, secs // 60 % 60, secs % 60, milli


def from_civil(y, m, d, hh=0, mm=0, ss=0, milli=0):
    """ms of a civil UTC time (checked; ss 60, a leap second, is the next second)."""
    if not (0 <= hh <= 23 and 0 <= mm <= 59 and 0 <= ss <= 60 and 0 <= milli <= 999):
        raise TimeError("%02d:%02d:%02d.%03d is not a time of day" % (hh, mm, ss, milli))
    ms = ((days_from_civil(y, m, d) * 24 + hh) * 60 + mm) * 60000 + ss * 1000 + milli
    if ms > MAX_MS:
        raise TimeError("the leap second at the end of 9999 is past what the formats carry")
    return ms


def fix(ms):
    """FIX UTCTimestamp with milliseconds: YYYYMMDD-HH:MM:SS.sss."""
    return "%04d%02d%02d-%02d:%02d:%02d.%03d" % civil(ms)


def iso(ms):
    """ISO 20022 ISODateTime in UTC: YYYY-MM-DDTHH:MM:SS.sssZ."""
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % civil(ms)


def iso_date(ms):
    """ISO 20022 ISODate: YYYY-MM-DD (the UTC date)."""
    return "%04d-%02d-%02d" % civil(ms)[:3]


_WEEKDAYS = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")     # 1970-01-01 was a Thursday
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http(ms):
    """HTTP's IMF-fixdate (RFC 9110 5.6.7), whole seconds: Tue, 02 Dec 2025 05:30:00 GMT."""
    y, m, d, hh, mm, ss, _ = civil(ms)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (_WEEKDAYS[ms // MS_PER_DAY % 7], d, _MONTHS[m - 1], y,
                                                    hh, mm, ss)


def mt_date(ms):
    """SWIFT MT date: YYMMDD (the UTC date)."""
    y, m, d = civil(ms)[:3]
    return "%02d%02d%02d" % (y % 100, m, d)


def _num(text, i, n, what):
    part = text[i:i + n]
    if len(part) != n or not is_digits(part, n):
        raise TimeError("%r has no %d-digit %s at %d" % (text[:40], n, what, i))
    return int(part)


def _fraction(text, i, what):
    """The milliseconds of a fraction `.d{1,9}` at text[i:] (truncated to
    ms: FIX 5.0 and ISO 20022 allow micro- and nanoseconds) and the index
    after it; (0, i) when there is none."""
    if i >= len(text) or text[i] != ".":
        return 0, i
    j = i + 1
    while j < len(text) and j - i <= 10 and text[j] in "0123456789":
        j += 1
    n = j - i - 1
    if not 1 <= n <= 9:
        raise TimeError("%s: %r: a fraction of a second has 1 to 9 digits" % (what, text[:40]))
    return int((text[i + 1:j] + "00")[:3]), j


def parse_fix(text):
    """ms of a FIX UTCTimestamp: YYYYMMDD-HH:MM:SS with an optional .s to
    .sssssssss (truncated to ms); TimeError else."""
    what = "FIX UTCTimestamp"
    if not isinstance(text, str) or len(text) < 17 or text[8] != "-" or text[11] != ":" or text[14] != ":":
        raise TimeError("%s: %r is not YYYYMMDD-HH:MM:SS[.sss]" % (what, str(text)[:40]))
    y, m, d = _num(text, 0, 4, "year"), _num(text, 4, 2, "month"), _num(text, 6, 2, "day")
    hh, mm, ss = _num(text, 9, 2, "hour"), _num(text, 12, 2, "minute"), _num(text, 15, 2, "second")
    milli, end = _fraction(text, 17, what)
    if end != len(text):
        raise TimeError("%s: %r has %r after the time" % (what, text[:40], text[end:end + 8]))
    return from_civil(y, m, d, hh, mm, ss, milli)


def parse_iso(text):
    """ms of an ISO 8601 / ISO 20022 ISODateTime that says its zone:
    YYYY-MM-DDTHH:MM:SS[.s..]Z or ...+HH:MM / -HH:MM; TimeError else
    (a time without a zone is local to somebody: refused)."""
    what = "ISODateTime"
    if (not isinstance(text, str) or len(text) < 19 or text[4] != "-" or text[7] != "-"
            or text[10] != "T" or text[13] != ":" or text[16] != ":"):
        raise TimeError("%s: %r is not YYYY-MM-DDTHH:MM:SS[.sss](Z|+HH:MM)" % (what, str(text)[:40]))
    y, m, d = _num(text, 0, 4, "year"), _num(text, 5, 2, "month"), _num(text, 8, 2, "day")
    hh, mm, ss = _num(text, 11, 2, "hour"), _num(text, 14, 2, "minute"), _num(text, 17, 2, "second")
    milli, i = _fraction(text, 19, what)
    zone = text[i:]
    if zone == "Z":
        off = 0
    elif len(zone) == 6 and zone[0] in "+-" and zone[3] == ":":
        oh, om = _num(zone, 1, 2, "zone hour"), _num(zone, 4, 2, "zone minute")
        if oh > 14 or om > 59:
            raise TimeError("%s: %r: zone %s is not -14:00..+14:00" % (what, text[:40], zone))
        off = (oh * 60 + om) * 60000 * (1 if zone[0] == "+" else -1)
    elif zone == "":
        raise TimeError("%s: %r has no zone (Z or +HH:MM): not a UTC time" % (what, text[:40]))
    else:
        raise TimeError("%s: %r: %r is not a zone (Z or +HH:MM)" % (what, text[:40], zone[:8]))
    ms = from_civil(y, m, d, hh, mm, ss, milli) - off
    if not 0 <= ms <= MAX_MS:
        raise TimeError("%s: %r is outside 1970..9999 in UTC" % (what, text[:40]))
    return ms
