"""Fake exchanges for tests: real WebSocket (and HTTP) servers on 127.0.0.1 speaking each venue's protocol."""
