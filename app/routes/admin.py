"""The operator's lists: orders (paged, and a drop's CSV export) and the audit log. Thin: dependencies
in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from app.deps import AdminOrdersDep, AuditDep, ExportDep, OperatorUser, ReportsDep
from app.problems import problems
from app.routes.sale import DropId
from audit.schemas import AuditPage
from core.cursors import MAX_CURSOR_LENGTH
from core.ids import MAX_ID
from sale.admin.schemas import OrdersPage, OrderStatusFilter
from sale.report.schemas import ReportOut

router = APIRouter(prefix="/api/admin", tags=["operator controls"])
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/orders", response_model=OrdersPage, responses=problems("unauthorized", "forbidden",
                                                                     "validation_error"))
async def list_orders(_: OperatorUser, orders: AdminOrdersDep,
                      drop_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                      status: OrderStatusFilter | None = None, cursor: Cursor = None, limit: Limit = 50) -> OrdersPage:
    """Orders of the record, newest first; `next_cursor` fetches the next page (null at the end)."""
    return await orders.page(drop_id, status, cursor, limit)


@router.get("/drops/{drop_id}/orders.csv", response_class=StreamingResponse,
            responses={200: {"description": "every order of the drop, oldest first (UTF-8 with BOM)",
                             "content": {"text/csv": {"schema": {"type": "string"}}}},
                       **problems("unauthorized", "forbidden", "drop_not_found")})
async def orders_csv(drop_id: DropId, _: OperatorUser, export: ExportDep) -> StreamingResponse:
    """Streamed from the database as it is read (constant memory, whatever the drop's size)."""
    rows = await export.open_csv(drop_id)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="drop-{drop_id}-orders.csv"', "Cache-Control": "no-store"})


@router.get("/audit", response_model=AuditPage, responses=problems("unauthorized", "forbidden", "validation_error"))
async def audit(_: OperatorUser, log: AuditDep, cursor: Cursor = None, limit: Limit = 50) -> AuditPage:
    """Every operator action, newest first (who, what, when, from which address, before and after);
    nothing in the API edits or deletes it."""
    return await log.page(cursor, limit)


@router.get("/drops/{drop_id}/report", response_model=ReportOut,
            responses=problems("unauthorized", "forbidden", "drop_not_found"))
async def drop_report(drop_id: DropId, _: OperatorUser, reports: ReportsDep) -> ReportOut:
    """Units and revenue over time (per second for ten minutes after the open, then per minute), time
    to sell out, attempts and refusals, the waiting room, payments by provider and outcome, refunds,
    referrals from share links."""
    return await reports.report(drop_id)


@router.get("/drops/{drop_id}/report.csv", response_class=Response,
            responses={200: {"description": "the report's series, then its totals (UTF-8 with BOM)",
                             "content": {"text/csv": {"schema": {"type": "string"}}}},
                       **problems("unauthorized", "forbidden", "drop_not_found")})
async def drop_report_csv(drop_id: DropId, _: OperatorUser, reports: ReportsDep) -> Response:
    return Response(await reports.report_csv(drop_id), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="drop-{drop_id}-report.csv"', "Cache-Control": "no-store"})
