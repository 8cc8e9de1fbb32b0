# Shadow mode: mirroring a request to the side that does not answer the client
# (the candidate handler, or legacy for reverse shadow), comparing the two
# answers, storing the differences grouped by cause, and the reports and
# dashboard that tell engineers which routes are ready. The proxy decides which
# requests are offered; everything after the offer happens here, off its path.

from ._candidate import Candidate as Candidate
from ._capture import Capture as Capture
from ._compare import compare as compare
from ._dashboard import ShadowDashboard as ShadowDashboard
from ._exceptions import RulesError as RulesError
from ._exceptions import ShadowError as ShadowError
from ._metrics import COMPARED as COMPARED
from ._metrics import SKIPS as SKIPS
from ._mirror import Mirror as Mirror
from ._model import Answer as Answer
from ._model import Comparison as Comparison
from ._model import Difference as Difference
from ._model import Mirrored as Mirrored
from ._model import ShadowReader as ShadowReader
from ._model import ShadowRecord as ShadowRecord
from ._model import SideEffect as SideEffect
from ._model import Skip as Skip
from ._noise import NoiseModel as NoiseModel
from ._pages import render_report as render_report
from ._pages import write_report_html as write_report_html
from ._readiness import Thresholds as Thresholds
from ._readiness import verdict as verdict
from ._replay import replay_main as replay_main
from ._report import report_main as report_main
from ._rules import CompareRules as CompareRules
from ._runtime import ShadowRuntime as ShadowRuntime
from ._settings import ShadowSettings as ShadowSettings
from ._settings import open_shadow as open_shadow
from ._signature import signature as signature
from ._sink import KafkaSink as KafkaSink
from ._sink import aggregate_from_kafka as aggregate_from_kafka
from ._store import ShadowStore as ShadowStore
from ._store_read import StoreReader as StoreReader
