"""What every strategy shares: checked batches (``batches``), QingXi's checks (``cleaning``) and their one stateful
stage (``clean_stage``) with its fan-out to the strategies (``fanout``), the one generic keyed Bytewax adapter
(``keyed``), where opportunities start and end (``edges``), episodes (``episodes``), rejection reasons
(``rejections``), order-book walking (``depth``), the heartbeat and the signal publisher."""
