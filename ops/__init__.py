"""Operations surface: secrets, supervision, system monitoring, API error codes and the HTTP API.

Dependencies point one way: ``ops`` -> ``flows``, ``connectors``; nothing there imports ``ops``.
"""
