"""The result codes metadir answers with (RFC 4511 §4.1.9, and the virtual list view's), and
the diagnostic messages several operations share."""

SUCCESS = 0
OPERATIONS_ERROR = 1
PROTOCOL_ERROR = 2
TIME_LIMIT_EXCEEDED = 3
SIZE_LIMIT_EXCEEDED = 4
COMPARE_FALSE = 5
COMPARE_TRUE = 6
AUTH_METHOD_NOT_SUPPORTED = 7
ADMIN_LIMIT_EXCEEDED = 11
UNAVAILABLE_CRITICAL_EXTENSION = 12
CONFIDENTIALITY_REQUIRED = 13
NO_SUCH_ATTRIBUTE = 16
UNDEFINED_ATTRIBUTE_TYPE = 17
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53
VLV_ERROR = 76  # draft-ietf-ldapext-ldapv3-vlv: the list view's control says why

READ_ONLY = "metadir is read-only: its contacts come from the replicators"
TLS_FIRST = "this server requires TLS: use StartTLS or ldaps:// first"
