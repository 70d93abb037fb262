"""CeLue cross-exchange arbitrage: every ordered venue pair of one symbol evaluated on whole instants (``spreads``,
its index arrays in ``pairs``), depth sizing (``sizing``), signals, episodes and rejections (``episodes``), spread
windows (``windows``) and z-scores (``moments``, ``zscores``), and the keyed step (``step``)."""
