"""The Locust rehearsal of a drop: `flashsale loadtest` provisions, runs Locust, verifies and reports.

`plan` and `tally` are plain standard-library modules shared by both sides: the orchestrator (asyncio,
httpx) and the Locust processes (gevent), which never import each other's code.
"""
