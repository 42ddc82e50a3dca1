from core.errors import DomainError


class AddressNotFound(DomainError):
    status, code, title = 404, "address_not_found", "No such address"


class TooManyAddresses(DomainError):
    status, code, title = 409, "too_many_addresses", "Delete an address before adding another"
