# Migrated routes: the in-process Python handlers that replace PHP scripts one
# route at a time, the API they are written against, and the shared resources
# they use (one Kafka producer and the hot caches, made once per worker).

from ._api import AsyncHandler as AsyncHandler
from ._api import Context as Context
from ._api import Handler as Handler
from ._api import InlineHandler as InlineHandler
from ._api import Message as Message
from ._api import Outbox as Outbox
from ._api import Request as Request
from ._api import Response as Response
from ._cache import CacheSet as CacheSet
from ._cache import CacheSnapshot as CacheSnapshot
from ._cache import HotCache as HotCache
from ._cache_settings import CacheSettings as CacheSettings
from ._consumer import ConsumerError as ConsumerError
from ._consumer import read_topic as read_topic
from ._exceptions import CacheError as CacheError
from ._exceptions import HandlerBadRequest as HandlerBadRequest
from ._exceptions import HandlerNotFound as HandlerNotFound
from ._exceptions import MigratedError as MigratedError
from ._exceptions import ProducerError as ProducerError
from ._exceptions import ProducerStartupError as ProducerStartupError
from ._exceptions import QueueFull as QueueFull
from ._frozen import thaw as thaw
from ._incoming import decoded_headers as decoded_headers
from ._incoming import handler_request as handler_request
from ._loader import load_handler as load_handler
from ._php_view import PhpSite as PhpSite
from ._php_view import PhpView as PhpView
from ._producer import KafkaProducer as KafkaProducer
from ._producer import replay_spool as replay_spool
from ._producer_settings import ProducerSettings as ProducerSettings
from ._resources import Resources as Resources
from ._runner import NO_PRODUCER as NO_PRODUCER
from ._runner import HandlerFailed as HandlerFailed
from ._runner import LoopTimeout as LoopTimeout
from ._runner import Outcome as Outcome
from ._runner import Running as Running
from ._runner import TimeLimit as TimeLimit
from ._runner import publish as publish
from ._runner import run_handler as run_handler
from ._runner import start_handler as start_handler
from ._wheel import Timer as Timer
from ._wheel import TimerWheel as TimerWheel
