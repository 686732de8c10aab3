# date/time types <-> datetime objects (included by codecs.pyx).
#
# PostgreSQL counts days and microseconds from 2000-01-01 (00:00 UTC for
# timestamptz); INT32/INT64 extremes stand for -infinity/infinity.

from cpython.datetime cimport (
    import_datetime, date_new, datetime_new, time_new, timedelta_new,
    PyDate_Check, PyDateTime_Check, PyTime_Check, PyDelta_Check,
    PyDateTime_GET_YEAR, PyDateTime_GET_MONTH, PyDateTime_GET_DAY,
    PyDateTime_DATE_GET_HOUR, PyDateTime_DATE_GET_MINUTE, PyDateTime_DATE_GET_SECOND,
    PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_TIME_GET_HOUR, PyDateTime_TIME_GET_MINUTE, PyDateTime_TIME_GET_SECOND,
    PyDateTime_TIME_GET_MICROSECOND,
    PyDateTime_DELTA_GET_DAYS, PyDateTime_DELTA_GET_SECONDS, PyDateTime_DELTA_GET_MICROSECONDS,
    datetime_tzinfo, time_tzinfo,
)
import datetime as _dt

import_datetime()

cdef enum:
    # Days from 0001-01-01 (Python's ordinal 1) to 2000-01-01.
    PG_EPOCH_ORDINAL = 730120
    MIN_PY_DAYS = 1 - PG_EPOCH_ORDINAL          # 0001-01-01
    MAX_PY_DAYS = 3652059 - PG_EPOCH_ORDINAL    # 9999-12-31

cdef int64_t USECS_PER_DAY = 86400000000
cdef int64_t USECS_PER_SEC = 1000000
# datetime.max / datetime.min as microseconds from 2000-01-01: asyncpg's infinity markers.
cdef int64_t TS_PY_MAX = (<int64_t>MAX_PY_DAYS + 1) * 86400000000 - 1
cdef int64_t TS_PY_MIN = <int64_t>MIN_PY_DAYS * 86400000000

cdef object _UTC = _dt.timezone.utc
cdef object _timezone = _dt.timezone
cdef object _timedelta = _dt.timedelta
cdef object _datetime = _dt.datetime
cdef object _DATE_MAX = _dt.date.max
cdef object _DATE_MIN = _dt.date.min
cdef object _DATETIME_MAX = _dt.datetime.max
cdef object _DATETIME_MIN = _dt.datetime.min
cdef dict _TZ_CACHE = {}


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept:
    """Days from 2000-01-01 to the proleptic Gregorian date y-m-d."""
    # Count in 400-year eras starting on March 1st, so leap days end a year.
    y -= m <= 2
    cdef int64_t era = _floor_div(y, 400)
    cdef int64_t yoe = y - era * 400
    cdef int64_t doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    cdef int64_t doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425    # 730425: 0000-03-01 .. 2000-01-01


cdef void _civil_from_days(int64_t days, int* year, int* month, int* day) noexcept:
    """Inverse of _days_from_civil."""
    days += 730425
    cdef int64_t era = _floor_div(days, 146097)
    cdef int64_t doe = days - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t d = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t m = mp + 3 if mp < 10 else mp - 9
    year[0] = <int>(yoe + era * 400 + (m <= 2))
    month[0] = <int>m
    day[0] = <int>d


cdef str _pg_date_text(int64_t days):
    """A day as PostgreSQL prints it (ISO, with ' BC' before year 1)."""
    cdef int y, m, d
    _civil_from_days(days, &y, &m, &d)
    if y <= 0:
        return f"{1 - y:04d}-{m:02d}-{d:02d} BC"
    return f"{y:04d}-{m:02d}-{d:02d}"


cdef str _pg_timestamp_text(int64_t ts, bint utc):
    cdef int64_t days = _floor_div(ts, USECS_PER_DAY)
    cdef int64_t usecs = ts - days * USECS_PER_DAY
    cdef int64_t secs = usecs // USECS_PER_SEC
    text = _pg_date_text(days)
    era = ""
    if text.endswith(" BC"):
        text, era = text[:len(text) - 3], " BC"
    clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    if usecs % USECS_PER_SEC:
        clock += f".{usecs % USECS_PER_SEC:06d}".rstrip("0")
    return f"{text} {clock}{'+00' if utc else ''}{era}"


cdef object _out_of_range(str typname, str text):
    return ValueError(
        f"{typname} value '{text}' is outside the range of Python's datetime (years 1 to "
        "9999); select it as text, or map such values with "
        "Connection.set_infinity_mapping(out_of_range='infinity')")


cdef object _date_from_days(int64_t days, str typname):
    cdef int y, m, d
    if days < MIN_PY_DAYS or days > MAX_PY_DAYS:
        raise _out_of_range(typname, _pg_date_text(days))
    _civil_from_days(days, &y, &m, &d)
    return date_new(y, m, d)


cdef object _datetime_from_ts(int64_t ts, object tz, str typname):
    cdef int64_t days = _floor_div(ts, USECS_PER_DAY)
    cdef int64_t usecs = ts - days * USECS_PER_DAY
    cdef int64_t secs = usecs // USECS_PER_SEC
    cdef int y, m, d
    if days < MIN_PY_DAYS or days > MAX_PY_DAYS:
        raise _out_of_range(typname, _pg_timestamp_text(ts, tz is not None))
    _civil_from_days(days, &y, &m, &d)
    return datetime_new(y, m, d, <int>(secs // 3600), <int>(secs // 60 % 60), <int>(secs % 60),
                        <int>(usecs % USECS_PER_SEC), tz)


cdef inline int64_t _date_days(object value) noexcept:
    return _days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                            PyDateTime_GET_DAY(value))


cdef inline int64_t _datetime_ts(object value) noexcept:
    """A datetime's wall-clock fields as microseconds from 2000-01-01 00:00."""
    return (_date_days(value) * USECS_PER_DAY
            + (PyDateTime_DATE_GET_HOUR(value) * 3600 + PyDateTime_DATE_GET_MINUTE(value) * 60
               + PyDateTime_DATE_GET_SECOND(value)) * USECS_PER_SEC
            + PyDateTime_DATE_GET_MICROSECOND(value))


cdef inline int64_t _infinity_marker(int64_t ts) noexcept:
    # asyncpg's rule: datetime.max/min stand for ±infinity.
    if ts == TS_PY_MAX:
        return INT64_MAX
    if ts == TS_PY_MIN:
        return INT64_MIN
    return ts


cdef int64_t _offset_usecs(object offset) noexcept:
    return ((<int64_t>PyDateTime_DELTA_GET_DAYS(offset) * 86400
             + PyDateTime_DELTA_GET_SECONDS(offset)) * USECS_PER_SEC
            + PyDateTime_DELTA_GET_MICROSECONDS(offset))


cdef enum:
    # How ±infinity dates/timestamps map to Python (Connection.set_infinity_mapping).
    INF_ASYNCPG = 0      # date.max/min, datetime.max/min (naive), both ways: the default
    INF_RAISE = 1        # decoding infinity raises; date.max is just 9999-12-31
    INF_SENTINELS = 2    # the user's two objects, both ways


cdef class EdgeAwareCodec(Codec):
    """date, timestamp, timestamptz: the part of their mapping a connection can choose.

    The builtin instances keep asyncpg's mapping; set_infinity_mapping() builds
    other instances for one connection. Only the infinity and out-of-range
    paths look at these fields, so the common path costs the same.
    """

    cdef int inf_mode
    cdef object neg_inf
    cdef object pos_inf
    cdef bint clamp             # values outside years 1..9999 decode as ±infinity

    cdef object _infinity(self, bint positive, object asyncpg_neg, object asyncpg_pos):
        if self.inf_mode == INF_SENTINELS:
            return self.pos_inf if positive else self.neg_inf
        if self.inf_mode == INF_ASYNCPG:
            return asyncpg_pos if positive else asyncpg_neg
        raise ValueError(
            f"{self.name} value '{'' if positive else '-'}infinity' has no Python value on "
            "this connection (its infinity mapping is 'raise'); select it as text or "
            "choose another mapping with Connection.set_infinity_mapping()")

    cdef int _sentinel_side(self, object value) noexcept:
        """1 or -1 when `value` is the connection's +/- infinity sentinel, else 0."""
        pos = self.pos_inf
        neg = self.neg_inf
        if value is pos:
            return 1
        if value is neg:
            return -1
        # Equal objects of the sentinel's own type count too (float('inf'), dates);
        # comparing only same-typed objects keeps user __eq__ surprises out.
        try:
            if type(value) is type(pos) and value == pos:
                return 1
            if type(value) is type(neg) and value == neg:
                return -1
        except Exception:
            return 0
        return 0


@cython.final
cdef class DateCodec(EdgeAwareCodec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("date", length, 4)
        cdef int32_t days = unpack_int32(data)
        if days == INT32_MAX or days == INT32_MIN:
            return self._infinity(days == INT32_MAX, _DATE_MIN, _DATE_MAX)
        if self.clamp and (days < MIN_PY_DAYS or days > MAX_PY_DAYS):
            return self._infinity(days > MAX_PY_DAYS, _DATE_MIN, _DATE_MAX)
        return _date_from_days(days, "date")

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int side
        if self.inf_mode == INF_SENTINELS:
            side = self._sentinel_side(value)
            if side != 0:
                pack_int32(buf.extend(4), INT32_MAX if side > 0 else INT32_MIN)
                return 0
        if not PyDate_Check(value):
            raise TypeError(f"expected datetime.date for date, got {_type_name(value)}")
        cdef int64_t days = _date_days(value)   # a datetime's time of day is dropped
        if self.inf_mode == INF_ASYNCPG:
            if days == MAX_PY_DAYS:
                days = INT32_MAX
            elif days == MIN_PY_DAYS:
                days = INT32_MIN
        pack_int32(buf.extend(4), <int32_t>days)
        return 0


cdef int64_t _time_usecs(object value, str typname) except? -1:
    if PyTime_Check(value):
        return ((PyDateTime_TIME_GET_HOUR(value) * 3600 + PyDateTime_TIME_GET_MINUTE(value) * 60
                 + PyDateTime_TIME_GET_SECOND(value)) * USECS_PER_SEC
                + PyDateTime_TIME_GET_MICROSECOND(value))
    if PyDateTime_Check(value):
        return ((PyDateTime_DATE_GET_HOUR(value) * 3600 + PyDateTime_DATE_GET_MINUTE(value) * 60
                 + PyDateTime_DATE_GET_SECOND(value)) * USECS_PER_SEC
                + PyDateTime_DATE_GET_MICROSECOND(value))
    raise TypeError(f"expected datetime.time for {typname}, got {_type_name(value)}")


cdef object _time_from_usecs(int64_t usecs, object tz, str typname):
    if usecs < 0 or usecs > USECS_PER_DAY:
        raise _malformed(typname, f"time of day {usecs} microseconds is out of range")
    if usecs == USECS_PER_DAY:
        raise ValueError(f"{typname} value 24:00:00 cannot be represented as datetime.time")
    cdef int64_t secs = usecs // USECS_PER_SEC
    return time_new(<int>(secs // 3600), <int>(secs // 60 % 60), <int>(secs % 60),
                    <int>(usecs % USECS_PER_SEC), tz)


@cython.final
cdef class TimeCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("time", length, 8)
        return _time_from_usecs(unpack_int64(data), None, "time")

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        pack_int64(buf.extend(8), _time_usecs(value, "time"))
        return 0


cdef object _fixed_timezone(int32_t east_seconds):
    tz = _TZ_CACHE.get(east_seconds)
    if tz is None:
        tz = _UTC if east_seconds == 0 else _timezone(_timedelta(seconds=east_seconds))
        if len(_TZ_CACHE) < 1000:   # a server cannot make this grow without bound
            _TZ_CACHE[east_seconds] = tz
    return tz


@cython.final
cdef class TimetzCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("timetz", length, 12)
        # PostgreSQL stores the zone as seconds *west* of UTC; Python's offsets are east.
        cdef int32_t west = unpack_int32(data + 8)
        if west <= -86400 or west >= 86400:
            raise _malformed("timetz", f"time zone offset of {west} seconds")
        return _time_from_usecs(unpack_int64(data), _fixed_timezone(-west), "timetz")

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t usecs = _time_usecs(value, "timetz")
        offset = value.utcoffset()
        if offset is None:
            raise TypeError("timetz needs a time zone: got a naive "
                            f"{_type_name(value)} (set its tzinfo to a fixed offset)")
        cdef int64_t east = _offset_usecs(offset)
        if east % USECS_PER_SEC:
            raise ValueError(f"timetz offsets are whole seconds, got {offset!r}")
        cdef char* p = buf.extend(12)
        pack_int64(p, usecs)
        pack_int32(p + 8, <int32_t>(-(east // USECS_PER_SEC)))
        return 0


cdef object _decode_timestamp(EdgeAwareCodec codec, const char* data, Py_ssize_t length,
                              object tz):
    _expect_length(codec.name, length, 8)
    cdef int64_t ts = unpack_int64(data)
    if ts == INT64_MAX or ts == INT64_MIN:
        return codec._infinity(ts == INT64_MAX, _DATETIME_MIN, _DATETIME_MAX)
    if codec.clamp and (ts < TS_PY_MIN or ts > TS_PY_MAX):
        return codec._infinity(ts > TS_PY_MAX, _DATETIME_MIN, _DATETIME_MAX)
    return _datetime_from_ts(ts, tz, codec.name)


cdef inline bint _write_sentinel(EdgeAwareCodec codec, WriteBuffer buf, object value) except -1:
    cdef int side
    if codec.inf_mode != INF_SENTINELS:
        return False
    side = codec._sentinel_side(value)
    if side == 0:
        return False
    pack_int64(buf.extend(8), INT64_MAX if side > 0 else INT64_MIN)
    return True


@cython.final
cdef class TimestampCodec(EdgeAwareCodec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        return _decode_timestamp(self, data, length, None)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t ts
        if _write_sentinel(self, buf, value):
            return 0
        if PyDateTime_Check(value):
            if datetime_tzinfo(value) is not None and value.utcoffset() is not None:
                raise TypeError("timestamp (without time zone) needs a naive datetime, got "
                                f"an aware one: {value!r} (use timestamptz, or drop tzinfo)")
            ts = _datetime_ts(value)
            if self.inf_mode == INF_ASYNCPG:
                ts = _infinity_marker(ts)
        elif PyDate_Check(value):
            ts = _date_days(value) * USECS_PER_DAY
        else:
            raise TypeError(f"expected datetime.datetime for timestamp, got {_type_name(value)}")
        pack_int64(buf.extend(8), ts)
        return 0


@cython.final
cdef class TimestamptzCodec(EdgeAwareCodec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        return _decode_timestamp(self, data, length, _UTC)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t ts
        cdef bint markers = self.inf_mode == INF_ASYNCPG
        if _write_sentinel(self, buf, value):
            return 0
        if PyDateTime_Check(value):
            offset = value.utcoffset() if datetime_tzinfo(value) is not None else None
            if offset is None:
                ts = _datetime_ts(value)
                if markers and (ts == TS_PY_MAX or ts == TS_PY_MIN):
                    pack_int64(buf.extend(8), _infinity_marker(ts))
                    return 0
                # Naive: the client's local time, as asyncpg (and datetime.astimezone).
                value = value.astimezone(_UTC)
                offset = value.utcoffset()
            ts = _datetime_ts(value) - _offset_usecs(offset)
            if markers:
                ts = _infinity_marker(ts)
        elif PyDate_Check(value):
            local = _datetime(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                              PyDateTime_GET_DAY(value)).astimezone(_UTC)
            ts = _datetime_ts(local)
        else:
            raise TypeError(f"expected datetime.datetime for timestamptz, got {_type_name(value)}")
        pack_int64(buf.extend(8), ts)
        return 0


@cython.final
cdef class IntervalCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("interval", length, 16)
        cdef int64_t usecs = unpack_int64(data)
        cdef int64_t days = unpack_int32(data + 8)
        cdef int64_t months = unpack_int32(data + 12)
        cdef int64_t years
        if ((usecs == INT64_MAX and days == INT32_MAX and months == INT32_MAX)
                or (usecs == INT64_MIN and days == INT32_MIN and months == INT32_MIN)):
            raise ValueError("interval value 'infinity' cannot be represented "
                             "as datetime.timedelta")
        # asyncpg's rule: a year is 365 days, a remaining month 30 (rounding to zero).
        if months < 0:
            years = -((-months) // 12)
            months = -((-months) % 12)
        else:
            years = months // 12
            months = months % 12
        cdef int64_t extra = _floor_div(usecs, USECS_PER_DAY)
        usecs -= extra * USECS_PER_DAY
        days += years * 365 + months * 30 + extra
        if days > 999999999 or days < -999999999:
            raise ValueError(f"interval of about {days} days is outside the range of "
                             "datetime.timedelta (±999999999 days)")
        return timedelta_new(<int>days, <int>(usecs // USECS_PER_SEC),
                             <int>(usecs % USECS_PER_SEC))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not PyDelta_Check(value):
            raise TypeError(f"expected datetime.timedelta for interval, got {_type_name(value)}")
        cdef char* p = buf.extend(16)
        pack_int64(p, <int64_t>PyDateTime_DELTA_GET_SECONDS(value) * USECS_PER_SEC
                   + PyDateTime_DELTA_GET_MICROSECONDS(value))
        pack_int32(p + 8, PyDateTime_DELTA_GET_DAYS(value))
        pack_int32(p + 12, 0)
        return 0
