"""Alerts in: the intake model (a notification of a group of alerts), routing rules that map
labels to a catalog service and an action, and grouping (one group, one incident or offer).

Pure where it decides (model, rules, grouping); `intake.AlertIntake` performs the decisions
through the ports. Payload parsing (Alertmanager, Grafana) is at the edge, in bot/alerts_web.py;
rules files are read in bot/playbooks/alert_rules.py.
"""
