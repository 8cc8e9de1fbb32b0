"""The demo's migrated handlers: Python ports of its PHP pages, as a porting team writes them.

They are routed by reference (``ops.demo.handlers.validator:validate``,
``ops.demo.handlers.batch:validate_batch``, ``ops.demo.handlers.quote:quote``)
from ``ops/demo/strangler.toml``, the benchmark and the tests; the library
does not ship them.
"""
