"""Mattermost: slash command, buttons and dialog over HTTP; REST through mattermostdriver;
the incident channels' messages over our own websocket loop."""
