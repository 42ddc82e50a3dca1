from core.errors import DomainError


class ShareLinkNotFound(DomainError):
    status, code, title = 404, "share_link_not_found", "This order has no share link (it was revoked)"


class OrderNotPaid(DomainError):
    status, code, title = 409, "order_not_paid", "Only a paid order can be shared"
