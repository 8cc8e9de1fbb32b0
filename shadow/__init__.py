# Shadow mode: mirroring a request to the side that does not answer the client,
# comparing the two answers, storing the differences grouped by cause, and the
# reports and dashboard that tell engineers which routes are ready.

from ._mirror import Mirror as Mirror
from ._model import Answer as Answer
from ._model import Comparison as Comparison
from ._model import Difference as Difference
from ._model import Mirrored as Mirrored
from ._model import ShadowReader as ShadowReader
from ._model import ShadowRecord as ShadowRecord
from ._model import SideEffect as SideEffect
from ._model import Skip as Skip
