"""How the gateway names what a pending approval acts on, in ChatOps and on the console.

An approval is decided by people who read this text, so it names the action's target as the
remediator resolved it (the group, the instance ids, the tags), never only the incident's
``resource_id``: that is a label the requester (or an alert's sender) chose, and a request for
a production group may carry a sandbox's name there.
"""

from __future__ import annotations

from typing import Any


def target_text(value: Any, resource_id: Any = None) -> str:
    """An action's target as Slack's messages name it: the group, the instance ids, or the
    tags as ``tag:Name=web-1`` (else the resource the incident is about)."""
    target = value if isinstance(value, dict) else {}
    if target.get("group"):
        return str(target["group"])
    if target.get("instance_ids"):
        return ", ".join(str(i) for i in target["instance_ids"])
    tags = target.get("tags")
    if isinstance(tags, dict) and tags:
        return ", ".join(f"tag:{key}={tags[key]}" for key in sorted(tags))
    return str(resource_id or "?")


def action_on_target(request: dict[str, Any]) -> str:
    """```restart_service` on i-0abc (raised on web-1)``: the action, its target and, when it
    differs, the resource the incident was raised on."""
    incident = request.get("incident")
    resource = incident.get("resource_id") if isinstance(incident, dict) else None
    target = target_text(request.get("target"), resource)
    about = f" (raised on {resource})" if resource and str(resource) != target else ""
    return f"`{request.get('action', '?')}` on {target}{about}"
