# The ingress: configuration, routing, the request engine and its HTTP/1.1
# drivers, the admin listener and the `strangler` command. Requests come in
# here and are sent to the legacy backend (legacy_adapter) or, route by route,
# to new Python handlers (migrated).

from ._config import Config as Config
from ._config import load_config as load_config
from ._config import parse_config as parse_config
from ._exceptions import ConfigError as ConfigError
from ._exceptions import StartupError as StartupError
from ._exceptions import StranglerError as StranglerError
from ._routing import Match as Match
from ._routing import Route as Route
from ._routing import RouteTable as RouteTable
