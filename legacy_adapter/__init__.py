# Talking to the legacy backend: PHP-FPM over FastCGI, an existing web server
# over HTTP, and static files, each with nginx's semantics so that clients see
# no change when strangler replaces nginx. "Which file" (nginx's try_files,
# index, PATH_INFO, static files) is decided apart from "talk FastCGI" (a
# sans-IO codec under a thin anyio transport, a client and a connection pool).

from ._asyncio_stream import WriteTimer as WriteTimer
from ._asyncio_stream import use_timers as use_timers
from ._backends import make_backend as make_backend
from ._cgi import build_params as build_params
from ._client import host_variable as host_variable
from ._client import trusted_client as trusted_client
from ._client import valid_host as valid_host
from ._exceptions import BadRequest as BadRequest
from ._exceptions import LegacyError as LegacyError
from ._exceptions import PoolExhausted as PoolExhausted
from ._exceptions import UpstreamProtocolError as UpstreamProtocolError
from ._exceptions import UpstreamTimeout as UpstreamTimeout
from ._exceptions import UpstreamUnavailable as UpstreamUnavailable
from ._fastcgi import FastCGIClient as FastCGIClient
from ._fastcgi_backend import FastCGIBackend as FastCGIBackend
from ._fastcgi_records import decode_pairs as decode_pairs
from ._http import HOP_BY_HOP as HOP_BY_HOP
from ._http import HTTPBackend as HTTPBackend
from ._http import bare_client as bare_client
from ._http import connection_named as connection_named
from ._http import forward_headers as forward_headers
from ._locations import Locations as Locations
from ._locations import StaticBackend as StaticBackend
from ._pages import error_page as error_page
from ._pages import page_html as page_html
from ._paths import normalize_path as normalize_path
from ._pool import ConnectionPool as ConnectionPool
from ._resolve import RunScript as RunScript
from ._settings import BackendSettings as BackendSettings
from ._settings import FastCGISettings as FastCGISettings
from ._settings import HTTPSettings as HTTPSettings
from ._settings import PoolSettings as PoolSettings
from ._settings import StaticSettings as StaticSettings
from ._streams import Chunks as Chunks
from ._streams import FileChunks as FileChunks
from ._streams import iter_bytes as iter_bytes
from ._streams import read_chunk as read_chunk
from ._streams import read_whole as read_whole
from ._types import Backend as Backend
from ._types import FileSpan as FileSpan
from ._types import Headers as Headers
from ._types import LegacyRequest as LegacyRequest
from ._types import UpstreamResponse as UpstreamResponse
