from core.errors import DomainError, NotFound


class QueueNotOpen(DomainError):
    status, code, title = 403, "queue_not_open", "The waiting room is not open"


class ChallengeFailed(DomainError):
    status, code, title = 403, "challenge_failed", "The challenge solution is missing, wrong, expired or used"


class NotInQueue(NotFound):
    code, title = "not_in_queue", "You are not in this drop's waiting room"


class NoWaitingRoom(NotFound):
    code, title = "no_waiting_room", "This drop has no waiting room"
