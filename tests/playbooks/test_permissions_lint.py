"""The playbook's `permissions:` key: checked like every other key, with positions."""

from __future__ import annotations

from bot.core.playbook import json_schema
from bot.playbooks.loader import load_text


def problems(text: str) -> list[str]:
    _, found = load_text(text, "pb.yaml")
    return [str(p) for p in found]


def test_permissions_name_defined_roles() -> None:
    text = "name: x\nroles:\n  - name: ops\npermissions:\n  state: [ops]\n  resolve: [opps]\n"
    (problem,) = problems(text)
    assert problem.startswith("pb.yaml:6:13: permissions.resolve[0]: undefined role 'opps'.")
    assert "Did you mean 'ops'?" in problem


def test_unknown_permission_is_named_with_a_suggestion() -> None:
    (problem,) = problems("name: x\npermissions:\n  severty: [commander]\n")
    assert problem.startswith("pb.yaml:3:3: unknown key 'severty'")
    assert "severity" in problem


def test_default_is_commander_only_and_the_schema_documents_the_key() -> None:
    loaded, found = load_text("name: x\n", "pb.yaml")
    assert found == [] and loaded is not None
    permissions = loaded.playbook.permissions
    assert all(permissions.roles_for(a) == () for a in ("severity", "state", "roles"))
    schema = json_schema()
    assert "permissions" in schema["properties"]
    assert set(schema["$defs"]["Permissions"]["properties"]) == {
        "severity",
        "state",
        "resolve",
        "reopen",
        "roles",
    }
