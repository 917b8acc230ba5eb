"""Conversations and messages as the API, the streams and the live pages show them
(snake_case, as the agent CLIs that send them)."""

from __future__ import annotations

from datetime import datetime

from .models import Conversation, Message, Participant


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def participant_body(participant: Participant) -> dict:
    return {"agent_id": participant.agent_id, "agent_type": participant.agent_type,
            "model": participant.model, "name": participant.name,
            "prompt": participant.prompt, "cli_version": participant.cli_version}


def message_body(message: Message) -> dict:
    return {"message_id": message.client_id, "agent_id": message.agent_id,
            "agent_type": message.agent_type, "agent_name": message.agent_name,
            "content": message.content, "sequence_number": message.sequence_number,
            "turn_number": message.turn_number, "tokens_used": message.tokens_used,
            "input_tokens": message.input_tokens, "output_tokens": message.output_tokens,
            "cost": message.cost, "model": message.model, "duration_ms": message.duration_ms,
            "timestamp": iso(message.created_at)}


def conversation_summary(conversation: Conversation, *, participants: bool = False) -> dict:
    body = {"id": conversation.pk, "conversation_id": conversation.client_id,
            "source": conversation.source, "status": conversation.status,
            "mode": conversation.mode, "initial_prompt": conversation.initial_prompt,
            "placeholder": conversation.placeholder, "max_turns": conversation.max_turns,
            "message_count": conversation.message_count,
            "total_messages": conversation.total_messages,
            "total_turns": conversation.total_turns, "total_tokens": conversation.total_tokens,
            "total_cost": conversation.total_cost,
            "duration_seconds": conversation.duration_seconds,
            "summary": conversation.summary, "errors": conversation.errors,
            "started_at": iso(conversation.started_at), "ended_at": iso(conversation.ended_at)}
    if participants:
        body["participants"] = [participant_body(p) for p in conversation.participants.all()]
    return body


def conversation_detail(conversation: Conversation, messages: list[Message] | None,
                        next_cursor: str | None) -> dict:
    body = {**conversation_summary(conversation, participants=True),
            "system_info": conversation.system_info, "command": conversation.command}
    if messages is not None:
        body["messages"] = [message_body(m) for m in messages]
        body["next_cursor"] = next_cursor
    return body
