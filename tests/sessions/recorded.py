"""A conversation as the AgentPipe CLI's bridge sends it: the envelopes, in order."""

from __future__ import annotations

SYSTEM_INFO = {"agentpipe_version": "0.6.0", "os": "linux", "os_version": "6.1",
               "go_version": "go1.24.0", "architecture": "amd64"}


def conversation_events(conversation_id: str = "conv-1", messages: int = 6) -> list[dict]:
    """started, ``messages`` messages from two agents (with the CLI's left-out zero fields),
    an error (not terminal) and completed."""
    def ts(second: int, fraction: str = ".123456789") -> str:
        return f"2026-11-23T10:00:{second:02d}{fraction}Z"

    events = [{"type": "conversation.started", "timestamp": ts(0), "data": {
        "conversation_id": conversation_id, "mode": "round-robin",
        "initial_prompt": "Design a rate limiter", "max_turns": 3,
        "participants": [
            {"agent_id": "claude-1", "agent_type": "claude", "model": "claude-sonnet-4",
             "name": "Claude", "prompt": "You are an architect", "cli_version": "1.0.0"},
            {"agent_id": "gemini-1", "agent_type": "gemini", "name": "Gemini"}],
        "system_info": SYSTEM_INFO,
        "command": {"full_command": "agentpipe run -c config.yaml", "args": ["-c"]}}}]
    for n in range(messages):
        agent = ("claude-1", "claude") if n % 2 == 0 else ("gemini-1", "gemini")
        data = {"conversation_id": conversation_id, "message_id": f"msg-{n}",
                "agent_id": agent[0], "agent_type": agent[1], "agent_name": agent[1].title(),
                "content": f"message {n}: " + "x" * n, "tokens_used": 10 + n,
                "input_tokens": 4, "output_tokens": 6 + n, "cost": 0.0012, "duration_ms": 900}
        if n:
            data["sequence_number"] = n  # the CLI leaves out zeros
            data["turn_number"] = n // 2
        events.append({"type": "message.created", "timestamp": ts(1 + n, f".{n}"),
                       "data": data})
    events.append({"type": "conversation.error", "timestamp": ts(30), "data": {
        "conversation_id": conversation_id, "error_message": "gemini timed out",
        "error_type": "timeout", "agent_type": "gemini"}})
    events.append({"type": "conversation.completed", "timestamp": ts(40, ""), "data": {
        "conversation_id": conversation_id, "status": "completed",
        "total_messages": messages, "total_turns": 3, "total_tokens": 999,
        "total_cost": 0.05, "duration_seconds": 40.5,
        "summary": {"short_text": "A token bucket", "text": "They chose a token bucket.",
                    "agent_type": "claude", "total_tokens": 120}}})
    return events
