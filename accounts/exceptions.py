from core.errors import DomainError


class EmailTaken(DomainError):
    status, code, title = 409, "email_taken", "Email already registered"


class BadCredentials(DomainError):
    status, code, title = 401, "bad_credentials", "Wrong email or password"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class UserNotFound(DomainError):
    status, code, title = 404, "user_not_found", "No such account"
