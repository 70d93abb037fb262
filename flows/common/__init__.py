"""What every strategy shares: checked batches, QingXi's stream checks, the one generic keyed Bytewax adapter,
opportunity episodes and rejection reasons, order-book walking, the heartbeat and the signal publisher."""
