"""Reminder ticker over APScheduler 3 (the reminder table is the truth)."""
