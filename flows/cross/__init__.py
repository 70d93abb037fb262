"""CeLue cross-exchange arbitrage: per-symbol evaluation of every venue pair (``spreads``), depth sizing
(``sizing``), opportunity episodes and rejections (``episodes``), spread windows and z-scores, and the keyed step."""
