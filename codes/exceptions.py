from core.errors import DomainError, ValidationFailed


class FcodeInvalid(DomainError):
    """One answer for unknown, used, expired, revoked, wrong-SKU and mistyped codes: reveals nothing."""

    status, code, title = 403, "fcode_invalid", "This F-code cannot be used"


class FcodeMalformed(DomainError):
    status, code, title = 422, "fcode_malformed", "That is not an F-code"


class FcodeNotFound(DomainError):
    status, code, title = 404, "fcode_not_found", "No such F-code"


class FcodeNotAvailable(DomainError):
    status, code, title = 409, "fcode_not_available", "This F-code is not available"


class FcodeRedeemed(DomainError):
    status, code, title = 409, "fcode_redeemed", "This F-code was used already"


class RecipientNotFound(DomainError):
    status, code, title = 404, "recipient_not_found", "No account with that email"


class GiftToSelf(DomainError):
    status, code, title = 422, "gift_to_self", "You cannot give a code to yourself"


class BadMonth(ValidationFailed):
    title = "Invalid month"
