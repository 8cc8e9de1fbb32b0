# PHP-compatible helpers for porting teams: json_decode and json_encode that
# accept, refuse and write exactly what PHP 8's do, and PHP's string
# conversion of scalars.  Reference and the list of flags: docs/handlers.md,
# "PHP-compatible JSON".  Tested against `php -r` on random documents
# (tests/migrated/test_php.py).
#
# Supported flags.  json_decode: JSON_OBJECT_AS_ARRAY, JSON_BIGINT_AS_STRING,
# JSON_THROW_ON_ERROR.  json_encode: JSON_HEX_TAG, JSON_HEX_AMP,
# JSON_HEX_APOS, JSON_HEX_QUOT, JSON_FORCE_OBJECT, JSON_UNESCAPED_SLASHES,
# JSON_PRETTY_PRINT, JSON_UNESCAPED_UNICODE, JSON_PRESERVE_ZERO_FRACTION,
# JSON_UNESCAPED_LINE_TERMINATORS, JSON_THROW_ON_ERROR.  Not supported (a
# ValueError names them): JSON_NUMERIC_CHECK, JSON_PARTIAL_OUTPUT_ON_ERROR,
# JSON_INVALID_UTF8_IGNORE, JSON_INVALID_UTF8_SUBSTITUTE.
#
# Errors always raise JsonException (JSON_THROW_ON_ERROR's semantics): PHP's
# `null`/`false` plus json_last_error() cannot be told from a decoded null.

from ._exceptions import JsonException as JsonException
from ._php_array import PhpArray as PhpArray
from ._php_json import JSON_BIGINT_AS_STRING as JSON_BIGINT_AS_STRING
from ._php_json import JSON_ERROR_CTRL_CHAR as JSON_ERROR_CTRL_CHAR
from ._php_json import JSON_ERROR_DEPTH as JSON_ERROR_DEPTH
from ._php_json import JSON_ERROR_INF_OR_NAN as JSON_ERROR_INF_OR_NAN
from ._php_json import JSON_ERROR_INVALID_PROPERTY_NAME as JSON_ERROR_INVALID_PROPERTY_NAME
from ._php_json import JSON_ERROR_NONE as JSON_ERROR_NONE
from ._php_json import JSON_ERROR_SYNTAX as JSON_ERROR_SYNTAX
from ._php_json import JSON_ERROR_UNSUPPORTED_TYPE as JSON_ERROR_UNSUPPORTED_TYPE
from ._php_json import JSON_ERROR_UTF8 as JSON_ERROR_UTF8
from ._php_json import JSON_ERROR_UTF16 as JSON_ERROR_UTF16
from ._php_json import JSON_FORCE_OBJECT as JSON_FORCE_OBJECT
from ._php_json import JSON_HEX_AMP as JSON_HEX_AMP
from ._php_json import JSON_HEX_APOS as JSON_HEX_APOS
from ._php_json import JSON_HEX_QUOT as JSON_HEX_QUOT
from ._php_json import JSON_HEX_TAG as JSON_HEX_TAG
from ._php_json import JSON_INVALID_UTF8_IGNORE as JSON_INVALID_UTF8_IGNORE
from ._php_json import JSON_INVALID_UTF8_SUBSTITUTE as JSON_INVALID_UTF8_SUBSTITUTE
from ._php_json import JSON_NUMERIC_CHECK as JSON_NUMERIC_CHECK
from ._php_json import JSON_OBJECT_AS_ARRAY as JSON_OBJECT_AS_ARRAY
from ._php_json import JSON_PARTIAL_OUTPUT_ON_ERROR as JSON_PARTIAL_OUTPUT_ON_ERROR
from ._php_json import JSON_PRESERVE_ZERO_FRACTION as JSON_PRESERVE_ZERO_FRACTION
from ._php_json import JSON_PRETTY_PRINT as JSON_PRETTY_PRINT
from ._php_json import JSON_THROW_ON_ERROR as JSON_THROW_ON_ERROR
from ._php_json import JSON_UNESCAPED_LINE_TERMINATORS as JSON_UNESCAPED_LINE_TERMINATORS
from ._php_json import JSON_UNESCAPED_SLASHES as JSON_UNESCAPED_SLASHES
from ._php_json import JSON_UNESCAPED_UNICODE as JSON_UNESCAPED_UNICODE
from ._php_json import json_decode as json_decode
from ._php_json import json_encode as json_encode
from ._php_json import php_json_float as php_json_float
from ._php_json import php_string_literal as php_string_literal
from ._php_json import strval as strval
