"""The bare-metal address-pool driver, registered as the `pool` provider."""

from __future__ import annotations

from ccm.driver import DriverOptions
from providers.pool.config import ConfigError, Pool, load_config, parse_config
from providers.pool.driver import PoolDriver

__all__ = ["ConfigError", "Pool", "PoolDriver", "load_config", "make_driver", "parse_config"]


def make_driver(options: DriverOptions) -> PoolDriver:
    """The entry point; raises ConfigError when the configuration is bad, so the controller
    refuses to start rather than run with no pools."""
    return PoolDriver(options.cluster, options.config)
