"""Slack: slack-bolt AsyncApp (HTTP and Socket Mode) and the Chat port over AsyncWebClient."""
