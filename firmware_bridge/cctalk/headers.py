"""ccTalk numbers: addresses, headers and coin-acceptor error codes.

Only numbers live here (the ``reference/cctalk.md`` tables), so the framer, the
device and the host all spell them the same way and a typo is a NameError rather
than a silent wrong byte on the wire.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "FRAUD_ERRORS",
    "NON_COIN_ERRORS",
    "AcceptorError",
    "Address",
    "Header",
    "describe_error",
    "inhibited_coin_type",
]


class Address(IntEnum):
    """Well-known ccTalk bus addresses."""

    BROADCAST = 0
    HOST = 1
    COIN_ACCEPTOR = 2
    PAYOUT = 3
    BILL_VALIDATOR = 40


class Header(IntEnum):
    """Headers a coin acceptor answers, plus the three reply headers (0, 5, 6).

    Numbers and names as in the ccTalk generic specification v4.7, part 3,
    appendix 1 (command cross reference).
    """

    # Replies.
    ACK = 0
    NAK = 5
    BUSY = 6
    # Comms housekeeping.
    RESET_DEVICE = 1
    REQUEST_COMMS_STATUS = 2
    CLEAR_COMMS_STATUS = 3
    REQUEST_COMMS_REVISION = 4
    # Coin acceptor specific.
    REQUEST_ADDRESS_MODE = 169
    REQUEST_BASE_YEAR = 170
    REQUEST_COIN_ID = 184
    MODIFY_COIN_ID = 185
    REQUEST_DEFAULT_SORTER_PATH = 188
    MODIFY_DEFAULT_SORTER_PATH = 189
    REQUEST_BUILD_CODE = 192
    REQUEST_FRAUD_COUNTER = 193
    REQUEST_REJECT_COUNTER = 194
    REQUEST_LAST_MODIFICATION_DATE = 195
    REQUEST_CREATION_DATE = 196
    CALCULATE_ROM_CHECKSUM = 197
    REQUEST_SORTER_PATHS = 209
    MODIFY_SORTER_PATHS = 210
    REQUEST_COIN_POSITION = 212
    REQUEST_OPTION_FLAGS = 213
    REQUEST_DATA_STORAGE_AVAILABILITY = 216
    REQUEST_SORTER_OVERRIDE_STATUS = 221
    MODIFY_SORTER_OVERRIDE_STATUS = 222
    REQUEST_ACCEPT_COUNTER = 225
    REQUEST_INSERTION_COUNTER = 226
    REQUEST_MASTER_INHIBIT_STATUS = 227
    MODIFY_MASTER_INHIBIT_STATUS = 228
    READ_BUFFERED_CREDIT_OR_ERROR_CODES = 229
    REQUEST_INHIBIT_STATUS = 230
    MODIFY_INHIBIT_STATUS = 231
    PERFORM_SELF_CHECK = 232
    READ_OPTO_STATES = 236
    READ_INPUT_LINES = 237
    TEST_OUTPUT_LINES = 238
    # Identification.
    REQUEST_SOFTWARE_REVISION = 241
    REQUEST_SERIAL_NUMBER = 242
    REQUEST_DATABASE_VERSION = 243
    REQUEST_PRODUCT_CODE = 244
    REQUEST_EQUIPMENT_CATEGORY_ID = 245
    REQUEST_MANUFACTURER_ID = 246
    REQUEST_VARIABLE_SET = 247
    REQUEST_STATUS = 248
    REQUEST_POLLING_PRIORITY = 249
    # Multi-drop addressing.
    ADDRESS_RANDOM = 250
    ADDRESS_CHANGE = 251
    ADDRESS_CLASH = 252
    ADDRESS_POLL = 253
    SIMPLE_POLL = 254


class AcceptorError(IntEnum):
    """Coin acceptor error codes: the B byte of a 229 result whose A byte is 0.

    Codes 128-159 (inhibited coin of type 1-32) are a range; only its bounds are
    members, use :func:`inhibited_coin_type` to build one.
    """

    NULL_EVENT = 0
    REJECT_COIN = 1
    INHIBITED_COIN = 2
    MULTIPLE_WINDOW = 3
    WAKE_UP_TIMEOUT = 4
    VALIDATION_TIMEOUT = 5
    CREDIT_SENSOR_TIMEOUT = 6
    SORTER_OPTO_TIMEOUT = 7
    SECOND_CLOSE_COIN = 8
    ACCEPT_GATE_NOT_READY = 9
    CREDIT_SENSOR_NOT_READY = 10
    SORTER_NOT_READY = 11
    REJECT_COIN_NOT_CLEARED = 12
    VALIDATION_SENSOR_NOT_READY = 13
    CREDIT_SENSOR_BLOCKED = 14
    SORTER_OPTO_BLOCKED = 15
    CREDIT_SEQUENCE_ERROR = 16
    COIN_GOING_BACKWARDS = 17
    COIN_TOO_FAST_OVER_CREDIT_SENSOR = 18
    COIN_TOO_SLOW_OVER_CREDIT_SENSOR = 19
    COIN_ON_STRING = 20
    DCE_OPTO_NOT_SEEN = 22
    CREDIT_SENSOR_REACHED_TOO_EARLY = 23
    REPEATED_SEQUENTIAL_TRIP = 24
    SLUG = 25
    REJECT_SENSOR_BLOCKED = 26
    ACCEPT_GATE_OPEN_NOT_CLOSED = 29
    ACCEPT_GATE_CLOSED_NOT_OPEN = 30
    SECURITY_STATUS_CHANGED = 34
    SWALLOWED_COIN = 36
    COIN_TOO_FAST_OVER_VALIDATION_SENSOR = 37
    COIN_TOO_SLOW_OVER_VALIDATION_SENSOR = 38
    COIN_INCORRECTLY_SORTED = 39
    EXTERNAL_LIGHT_ATTACK = 40
    INHIBITED_COIN_TYPE_1 = 128
    INHIBITED_COIN_TYPE_32 = 159
    COIN_RETURN_MECHANISM_ACTIVATED = 254
    UNSPECIFIED_ALARM = 255


#: Error codes that are fraud attempts; they also count in the fraud counter (193).
FRAUD_ERRORS: frozenset[int] = frozenset(
    {
        AcceptorError.COIN_GOING_BACKWARDS,
        AcceptorError.COIN_ON_STRING,
        AcceptorError.REPEATED_SEQUENTIAL_TRIP,
        AcceptorError.SLUG,
        AcceptorError.EXTERNAL_LIGHT_ATTACK,
    }
)

#: Error codes that report the mechanism's state rather than an inserted coin, so
#: they leave the insertion and reject counters (226, 194) alone.
NON_COIN_ERRORS: frozenset[int] = frozenset(
    {
        AcceptorError.NULL_EVENT,
        AcceptorError.WAKE_UP_TIMEOUT,
        AcceptorError.ACCEPT_GATE_NOT_READY,
        AcceptorError.CREDIT_SENSOR_NOT_READY,
        AcceptorError.SORTER_NOT_READY,
        AcceptorError.REJECT_COIN_NOT_CLEARED,
        AcceptorError.VALIDATION_SENSOR_NOT_READY,
        AcceptorError.CREDIT_SENSOR_BLOCKED,
        AcceptorError.SORTER_OPTO_BLOCKED,
        AcceptorError.REJECT_SENSOR_BLOCKED,
        AcceptorError.ACCEPT_GATE_OPEN_NOT_CLOSED,
        AcceptorError.ACCEPT_GATE_CLOSED_NOT_OPEN,
        AcceptorError.SECURITY_STATUS_CHANGED,
        AcceptorError.EXTERNAL_LIGHT_ATTACK,
        AcceptorError.COIN_RETURN_MECHANISM_ACTIVATED,
        AcceptorError.UNSPECIFIED_ALARM,
    }
)


def inhibited_coin_type(coin_type: int) -> int:
    """Error code "inhibited coin, type ``coin_type``" (128-159).

    Parameters
    ----------
    coin_type : int
        Coin type (position) 1-32.

    Returns
    -------
    int
        The error code, ``127 + coin_type``.
    """
    if not 1 <= coin_type <= 32:
        raise ValueError(f"coin type must be 1-32, got {coin_type}")
    return AcceptorError.INHIBITED_COIN_TYPE_1 + coin_type - 1


def describe_error(code: int) -> str:
    """Human-readable name of an error code, including the 128-159 range.

    Parameters
    ----------
    code : int
        An error code byte (0-255).

    Returns
    -------
    str
        The :class:`AcceptorError` member name, ``INHIBITED_COIN_TYPE_<n>`` for the
        range, or ``UNKNOWN_<code>``.
    """
    if AcceptorError.INHIBITED_COIN_TYPE_1 <= code <= AcceptorError.INHIBITED_COIN_TYPE_32:
        return f"INHIBITED_COIN_TYPE_{code - AcceptorError.INHIBITED_COIN_TYPE_1 + 1}"
    try:
        return AcceptorError(code).name
    except ValueError:
        return f"UNKNOWN_{code}"
