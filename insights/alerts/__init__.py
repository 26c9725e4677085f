"""Alerts end to end: evaluation (`evaluate`: one function per alert type answering candidate
alerts), delivery (`delivery`: rules → recipients → email, webhook, inbox). The write side is
insights.services.alerts; the tasks are in insights.tasks."""
