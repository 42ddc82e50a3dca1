from __future__ import annotations

from core.errors import DomainError


class BadPushEndpoint(DomainError):
    status, code, title = 422, "push_endpoint_refused", "Push endpoints must be https URLs on public hosts"


class PushUnavailable(DomainError):
    status, code, title = 404, "push_unavailable", "Web push is not configured on this service"


class BadUnsubscribeLink(DomainError):
    status, code, title = 400, "bad_unsubscribe_link", "This unsubscribe link is not valid"


class MessageNotFound(DomainError):
    status, code, title = 404, "message_not_found", "Message not found"
