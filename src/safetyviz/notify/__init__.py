"""Notifications: rules over the monitoring readings, an outbox that loses and repeats
nothing, and the channels (e-mail, DingTalk, WeCom, JSON webhooks) that carry the messages.
May import: report, ingest, security, synth, analysis, data, core.
"""
